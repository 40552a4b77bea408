/** Site roles, group access levels and the named project actions of Flywheel's role model. */
export const SITE_ROLES = ['user', 'developer', 'site_admin'] as const;
export type SiteRole = (typeof SITE_ROLES)[number];

export const GROUP_ACCESS = ['ro', 'rw', 'admin'] as const;
export type GroupAccess = (typeof GROUP_ACCESS)[number];

export const ACTIONS = [
  'containers_view_metadata',
  'containers_create_hierarchy',
  'containers_modify_metadata',
  'containers_delete_hierarchy',
  'containers_delete_project',
  'analyses_view_metadata',
  'analyses_create_sdk',
  'analyses_create_job',
  'analyses_modify_metadata',
  'analyses_delete',
  'files_view_metadata',
  'files_view_contents',
  'files_download',
  'files_create_upload',
  'files_modify_metadata',
  'files_delete_non_device_data',
  'files_delete_device_data',
  'tags_view',
  'tags_manage',
  'notes_view',
  'notes_manage',
  'project_permissions_view',
  'project_permissions_manage',
  'gear_rules_view',
  'gear_rules_manage',
  'data_views_view',
  'data_views_manage',
  'session_templates_view',
  'session_templates_manage',
  'jobs_view',
  'jobs_run_cancel',
  'jobs_cancel_any',
] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * Flywheel's baseline: every role lets its holder see the containers, file listings, tags and notes
 * they were given. Downloading content and viewing analyses are not part of it, so a custom role can
 * withhold them.
 */
export const ROLE_BASELINE: Action[] = [
  'containers_view_metadata',
  'files_view_metadata',
  'tags_view',
  'notes_view',
  'project_permissions_view',
  'data_views_view',
  'session_templates_view',
  'gear_rules_view',
  'jobs_view',
];

/** The built-in read-only role: the baseline plus reading content and analyses. */
export const READ_ONLY_ACTIONS: Action[] = [...ROLE_BASELINE, 'files_view_contents', 'files_download', 'analyses_view_metadata'];

export const READ_WRITE_ACTIONS: Action[] = [
  ...READ_ONLY_ACTIONS,
  'containers_create_hierarchy',
  'containers_modify_metadata',
  'containers_delete_hierarchy',
  'analyses_create_sdk',
  'analyses_create_job',
  'analyses_modify_metadata',
  'analyses_delete',
  'files_create_upload',
  'files_modify_metadata',
  'files_delete_non_device_data',
  'tags_manage',
  'notes_manage',
  'data_views_manage',
  'jobs_run_cancel',
];

/** Built-in roles, one per legacy access level; their ids are fixed so group access maps onto them. */
export const BUILTIN_ROLES: Record<GroupAccess, { id: string; label: string; actions: readonly Action[] }> = {
  ro: { id: 'ro', label: 'read-only', actions: READ_ONLY_ACTIONS },
  rw: { id: 'rw', label: 'read-write', actions: READ_WRITE_ACTIONS },
  admin: { id: 'admin', label: 'admin', actions: ACTIONS },
};
