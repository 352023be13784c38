/**
 * The role-based enforcement policies (the seed's "Privileged Access Manager" section, with
 * "Keeper Gateway" and "KSM" renamed): the Router enforces them, the CLI describes them.
 */
export const POLICIES = [
  'manage_applications',
  'manage_gateways',
  'configure_rotation',
  'rotate',
  'manage_rotation_scripts',
  'configure_connections',
  'launch_connections',
  'view_recordings',
  'configure_tunnels',
  'start_tunnels',
  'configure_remote_browsing',
  'launch_remote_browsing',
  'view_rbi_recordings',
  'run_discovery',
] as const;
export type Policy = (typeof POLICIES)[number];

export function isPolicy(value: string): value is Policy {
  return (POLICIES as readonly string[]).includes(value);
}

export interface PolicyInfo {
  name: Policy;
  title: string;
  description: string;
}

export const POLICY_INFO: readonly PolicyInfo[] = [
  {
    name: 'manage_applications',
    title: 'Can create applications and manage secrets',
    description: 'Allow users to create and manage Secrets Manager applications',
  },
  { name: 'manage_gateways', title: 'Can create, deploy, and manage gateways', description: 'Allow users to create, setup, and manage gateways' },
  {
    name: 'configure_rotation',
    title: 'Can configure rotation settings',
    description: 'Allow users to configure Rotation settings on PAM User and PAM Configuration Record Types',
  },
  { name: 'rotate', title: 'Can rotate credentials', description: 'Allow users to rotate credentials on PAM User Record Types' },
  {
    name: 'manage_rotation_scripts',
    title: 'Can attach and approve post-rotation scripts',
    description: "Allow users to attach, replace and approve post-rotation scripts, which gateways run as code after a rotation (an administrator's policy)",
  },
  {
    name: 'configure_connections',
    title: 'Can configure connection and session recording',
    description:
      'Allow users to configure Connection and Session Recordings settings on PAM Machine, PAM Directory, PAM Database and PAM Configuration Record Types',
  },
  {
    name: 'launch_connections',
    title: 'Can launch connections',
    description: 'Allow users to launch connections on PAM Machine, PAM Directory, PAM Database Record Types',
  },
  { name: 'view_recordings', title: 'Can view session recordings', description: 'Allow users to view Session Recordings' },
  {
    name: 'configure_tunnels',
    title: 'Can configure tunnel settings',
    description: 'Allow users to configure Tunnel settings on PAM Machine, PAM Directory, PAM Database and PAM Configuration Record Types',
  },
  { name: 'start_tunnels', title: 'Can start tunnels', description: 'Allow users to start tunnels on PAM Machine, PAM Directory, PAM Database Record Types' },
  {
    name: 'configure_remote_browsing',
    title: 'Can configure remote browsing and session recording',
    description: 'Allow users to configure Remote Browser and Session Recordings settings on PAM Remote Browsing and Configuration Record Types',
  },
  {
    name: 'launch_remote_browsing',
    title: 'Can launch remote browsing',
    description: 'Allow users to launch remote browsing on PAM Remote Browsing Record Types',
  },
  { name: 'view_rbi_recordings', title: 'Can view RBI session recordings', description: 'Allow users to view RBI Session Recordings' },
  { name: 'run_discovery', title: 'Can run discovery', description: 'Allow users to run discovery' },
];
