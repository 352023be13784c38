# Sourced by scripts/test.sh: make the Deno and workerd runtimes available for the
# runtime tests. Both come from the npm registry as project devDependencies.
:
