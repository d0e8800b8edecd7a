"""Bulk sends ("campaigns"): one flow to many recipients from a CSV, with a dry run, paced by
throughput limits, processed in batches by the job queue so a restart resumes without sending
anyone twice.

Public surface: `parse_recipients` (CSV / JSON rows, line errors), `dry_run`, `create_campaign`,
`campaign_progress`, `CampaignRunner` (the job handler) and the flow contract in `contract`.
"""
