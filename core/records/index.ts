export * from './record-types.ts';
export * from './record-data.ts';
export * from './custom-fields.ts';
export * from './field-assignments.ts';
export * from './display.ts';
