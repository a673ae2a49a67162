import type { Generated } from "kysely";
import type { ChunkSummary } from "./metric-chunk.ts";

/** Row shapes of every table, as the migrations create them. Times are epoch milliseconds. */
export interface Tables {
  api_tokens: {
    id: string;
    name: string;
    token_hash: string;
    /** What the token is: `personal` (a user's or service account's) or `job` (one job's). */
    role: string;
    /** The user (or service account) a personal token belongs to; for a job's, its submitter. */
    user_id: string | null;
    job_id: string | null;
    /** For a job's token: the job's team. */
    team_id: string | null;
    created_at: number;
    expires_at: number | null;
  };
  /** A team; its id is its name (lower-case letters, digits and '-'). */
  teams: { team_id: string; description: string | null; created_at: number };
  users: {
    user_id: string;
    /** The login name, unique: what tokens, runs and the audit log show. */
    name: string;
    /** `user` (a person) or `service` (a service account for CI and automation). */
    kind: string;
    display_name: string | null;
    email: string | null;
    platform_admin: number;
    /** Set for users who came from single sign-on: the issuer and their subject there. */
    sso_issuer: string | null;
    sso_subject: string | null;
    created_at: number;
    disabled_at: number | null;
  };
  /** Who belongs to which team, with which role: viewer, developer, maintainer or admin. */
  team_members: { team_id: string; user_id: string; role: string; created_at: number };
  experiments: {
    experiment_id: string;
    name: string;
    artifact_location: string;
    lifecycle_stage: string;
    creation_time: number;
    last_update_time: number;
    /** The team that owns it. */
    team_id: string;
  };
  experiment_tags: { experiment_id: string; key: string; value: string };
  runs: {
    run_id: string;
    experiment_id: string;
    run_name: string;
    user_id: string;
    status: string;
    start_time: number;
    end_time: number | null;
    lifecycle_stage: string;
    artifact_uri: string;
    source_commit: string | null;
    source_dirty: number | null;
    source_entrypoint: string | null;
    job_id: string | null;
    deleted_time: number | null;
  };
  params: { run_id: string; key: string; value: string };
  tags: { run_id: string; key: string; value: string };
  /** Metric points in chunks per (run, key): see storage/metric-chunk.ts and migration 017. */
  metric_chunks: ChunkSummary & {
    run_id: string;
    key: string;
    seq: number;
    points: Buffer;
  };
  latest_metrics: {
    run_id: string;
    /** The run's experiment (031), so that a search ordered by a metric walks (experiment_id, key, value). */
    experiment_id: string;
    key: string;
    value: number | null;
    timestamp: number;
    step: number;
    is_nan: number;
  };
  dataset_inputs: {
    run_id: string;
    name: string;
    digest: string;
    source_type: string;
    source: string;
    schema: string | null;
    profile: string | null;
    context: string | null;
  };
  artifacts: { run_id: string; path: string; digest: string; size: number; created_at: number };
  jobs: {
    job_id: string;
    name: string;
    spec: string;
    phase: string;
    priority: number;
    /** Name of the principal that submitted the job. */
    owner: string;
    /** JSON ResourceRequest: the resources asked for, the profile resolved at submit. */
    request: string;
    experiment_id: string;
    run_id: string | null;
    attempt: number;
    /** JSON Allocation (GPU indices, CPUs, MiB) while STARTING/RUNNING; null otherwise. */
    allocation: string | null;
    /** JSON ExecutionHandle of the current attempt, so a restarted controller can find it. */
    handle: string | null;
    /** JSON Pending: why a QUEUED job waits (which resource, who holds it). */
    pending: string | null;
    pid: number | null;
    pid_start: string | null;
    exit_code: number | null;
    message: string | null;
    cancel_requested_at: number | null;
    created_at: number;
    /** First start of any attempt. */
    started_at: number | null;
    /** Start of the current attempt (max runtime is per attempt). */
    attempt_started_at: number | null;
    /** The last attempt whose log, outputs and run status are recorded on the run. */
    recorded_attempt: Generated<number>;
    finished_at: number | null;
    updated_at: number;
    /** The team that owns it. */
    team_id: string;
    /** Attempts that ended by preemption: they do not count against `retry.maxAttempts`. */
    preemptions: Generated<number>;
    /** Set while the current attempt is being preempted (SIGTERM sent, grace period running). */
    preempt_requested_at: number | null;
    /** JSON Preemption: which job asked for the GPUs, and why. */
    preemption: string | null;
  };
  job_events: {
    id: Generated<number>;
    job_id: string;
    time: number;
    type: string;
    message: string;
  };
  registered_models: {
    /** Internal key; the name is unique but can be renamed. */
    model_id: string;
    name: string;
    description: string | null;
    user_id: string;
    /** Highest version number ever given, so deleted numbers are never reused. */
    max_version: number;
    creation_time: number;
    last_update_time: number;
    /** The team that owns it. */
    team_id: string;
  };
  registered_model_tags: { model_id: string; key: string; value: string };
  registered_model_aliases: { model_id: string; alias: string; version: number };
  model_versions: {
    model_id: string;
    version: number;
    source: string;
    run_id: string | null;
    logged_model_id: string | null;
    status: string;
    current_stage: string;
    description: string | null;
    user_id: string;
    /** JSON ModelSignature read from the version's .onnx file, or null. */
    signature: string | null;
    /** JSON Lineage (run, commit, datasets) captured at registration, or null. */
    lineage: string | null;
    creation_time: number;
    last_update_time: number;
  };
  model_version_tags: { model_id: string; version: number; key: string; value: string };
  /** The files copied into a version: relative path → content-addressed blob. */
  model_version_files: { model_id: string; version: number; path: string; digest: string; size: number };
  logged_models: {
    model_id: string;
    experiment_id: string;
    name: string;
    artifact_location: string;
    /** PENDING, READY or FAILED. */
    status: string;
    status_message: string | null;
    model_type: string | null;
    source_run_id: string | null;
    user_id: string;
    creation_time: number;
    last_update_time: number;
  };
  logged_model_tags: { model_id: string; key: string; value: string };
  logged_model_params: { model_id: string; key: string; value: string };
  logged_model_artifacts: { model_id: string; path: string; digest: string; size: number; created_at: number };
  run_outputs: { run_id: string; model_id: string; step: number };
  /** A registered model's own gate policy (JSON of the parsed policy); absent: the built-in default. */
  gate_policies: { model_id: string; policy: string; policy_version: string; updated_by: string; updated_at: number };
  /** One evaluation of a model version against a gate policy; `checks` is the JSON list of check results. */
  evaluations: {
    id: string;
    model_id: string;
    model_name: string;
    version: number;
    policy_version: string;
    data_path: string;
    /** Empty until the data is read. */
    data_digest: string;
    reference_path: string | null;
    /** 1 when finished and every check passed. */
    passed: number;
    checks: string;
    user_id: string;
    /** When it started running (the creation time while Pending). */
    started_at: number;
    /** 0 until it finishes. */
    finished_at: number;
    /** Pending, Running, Passed, Failed or Error. */
    phase: string;
    /** JSON of what to run (label, sensitive columns, policy); null for evaluations from before phases. */
    request: string | null;
    /** Why it is in Error. */
    message: string | null;
    created_at: number;
    /** The team that owns it. */
    team_id: string;
  };
  /** A CSV a client sent for evaluation (`uploads:/<digest>`): the blob is in the artifact store. */
  evaluation_uploads: { digest: string; size: number; user_id: string; created_at: number; team_id: string };
  /** One change of a model's gate policy; `previous_*` are null for the first change recorded (or one made before history was kept). */
  gate_policy_changes: {
    id: string;
    model_id: string;
    model_name: string;
    policy: string;
    policy_version: string;
    previous_policy: string | null;
    previous_version: string | null;
    /** "default" when the change replaced the built-in policy, "model" when it replaced the model's own. */
    previous_source: string | null;
    user_id: string;
    created_at: number;
  };
  /** An admin's override of the production gate: who, when, why. */
  evaluation_overrides: {
    id: string;
    model_id: string;
    model_name: string;
    version: number;
    alias: string;
    policy_version: string;
    user_id: string;
    reason: string;
    created_at: number;
  };
  /** A rollout of a model version to an environment: spec (JSON) from the API, status (JSON) from the controller. */
  deployments: {
    id: string;
    model_name: string;
    environment: string;
    spec: string;
    status: string;
    /** The status phase, duplicated for filtering. */
    phase: string;
    /** 1 while the user has paused the rollout. */
    paused: number;
    /** A manual action the controller has yet to carry out: promote, force-promote or rollback. */
    requested: string | null;
    created_by: string;
    created_at: number;
    updated_at: number;
    /** The team that owns it. */
    team_id: string;
  };
  /** A promotion forced past a failing or missing analysis (written by the API when it is asked for). */
  deployment_overrides: {
    id: string;
    deployment_id: string;
    model_name: string;
    environment: string;
    version: string;
    /** What was forced: promote. */
    action: string;
    /** The verdict overridden: failing or missing, and why. */
    verdict: string;
    verdict_reason: string;
    user_id: string;
    reason: string;
    created_at: number;
  };
  /** An outcome reported for an A/B deployment, attributed to the variant its routing key was sent to. */
  deployment_outcomes: {
    deployment_id: string;
    version: string;
    route_key: string;
    value: number;
    /** The reporter's id for the outcome (a retry with the same id is not counted again); null when none was given. */
    outcome_id: string | null;
    created_at: number;
  };
  /** A single sign-on login in progress: a browser's (by its state) or a CLI's device login (by its polling handle). Used once. */
  sso_logins: {
    key_hash: string;
    /** `browser` or `device`. */
    kind: string;
    browser_hash: string | null;
    nonce: string | null;
    code_verifier: string | null;
    return_to: string | null;
    device_code: string | null;
    client_name: string | null;
    interval_seconds: number | null;
    next_poll_at: number | null;
    created_at: number;
    expires_at: number;
  };
  /** A browser session from single sign-on; the cookie's value is stored as its SHA-256. */
  sessions: { session_hash: string; user_id: string; created_at: number; expires_at: number };
  /** A team's quota: JSON of its limits (absent field: `guardrails.defaultQuota`; null: unlimited). */
  team_quotas: { team_id: string; limits: string; updated_by: string; updated_at: number };
  /** Every ended attempt of a job: what it held and for how long (GPU-hours per month are summed from these). */
  job_attempts: {
    job_id: string;
    attempt: number;
    team_id: string;
    gpus: number;
    cpus: number;
    memory_mib: number;
    started_at: number;
    ended_at: number;
    outcome: string;
  };
  /** A team's monthly budget: the amount (in the price list's currency) and what happens at each threshold. */
  budgets: { team_id: string; amount: number; thresholds: string; webhook_url: string | null; updated_by: string; updated_at: number };
  /** One threshold of a team's budget crossed in a month: what it did, and its webhook's delivery. */
  budget_events: {
    id: string;
    team_id: string;
    /** The UTC month, e.g. 2026-12. */
    month: string;
    /** The threshold, in percent of the budget. */
    at: number;
    /** notify, block or stop. */
    action: string;
    amount: number;
    spend: number;
    created_at: number;
    acted_at: number | null;
    /** none, pending, delivered or failed. */
    delivery: string;
    webhook_url: string | null;
    attempts: Generated<number>;
    next_attempt_at: number | null;
    delivered_at: number | null;
    last_error: string | null;
  };
  /** Serving's replica time and requests per month and deployment, as the meter adds them up. */
  serving_usage: {
    month: string;
    team_id: string;
    model_name: string;
    environment: string;
    /** '' for a version loaded by hand, outside any deployment. */
    deployment_id: string;
    replica_ms: number;
    requests: number;
    updated_at: number;
  };
  /** Every version of the platform's (`platform`) and each team's (`team:<name>`) policy document. */
  guardrail_policies: { scope: string; version: number; document: string; rules: string; created_by: string; created_at: number };
  /** The audit log (append-only): one mutating request, or a summary of run-tracking writes (`count` > 1 possible). */
  audit_events: {
    id: string;
    /** When the answer was sent; for a summary, the last request it counts. */
    time: number;
    /** For a summary: when the first request it counts was answered; null for one request. */
    first_time: number | null;
    count: number;
    /** The request id (also the `x-request-id` answer header); null for a summary. */
    request_id: string | null;
    /** The principal's name; null when the request carried no valid token. */
    actor: string | null;
    /** user, service, job (or anonymous); null when unauthenticated. */
    actor_kind: string | null;
    actor_user_id: string | null;
    actor_job_id: string | null;
    team: string | null;
    action: string;
    method: string;
    /** The route's URL pattern, e.g. `/api/v1/jobs/:id/cancel`. */
    route: string;
    target_kind: string | null;
    target_id: string | null;
    /** The path parameters as JSON (never the body, headers or query). */
    params: string | null;
    status: number;
    error_code: string | null;
    client_ip: string | null;
    duration_ms: number;
  };
  /** A workspace: spec (JSON) from the API, status from its controller; `jupyter_token` is for the proxy only. */
  workspaces: {
    workspace_id: string;
    name: string;
    team_id: string;
    owner: string;
    owner_user_id: string | null;
    spec: string;
    /** PENDING, STARTING, RUNNING, STOPPING, STOPPED or FAILED. */
    phase: string;
    experiment_id: string;
    /** JSON list of the user names it is shared with. */
    shared_with: string;
    /** The job that runs its Jupyter server in the current (or last) session. */
    job_id: string | null;
    /** How many times it has been started. */
    session: number;
    jupyter_token: string | null;
    socket_path: string | null;
    home_dir: string;
    message: string | null;
    last_activity_at: number | null;
    idle_warned_at: number | null;
    gpu_idle_since: number | null;
    stop_requested_at: number | null;
    stop_reason: string | null;
    home_bytes: number;
    created_at: number;
    updated_at: number;
  };
  /** One start of a workspace: when asked for, when its kernel first answered, how it ended. */
  workspace_sessions: {
    workspace_id: string;
    session: number;
    job_id: string;
    profile: string;
    requested_at: number;
    ready_at: number | null;
    ready_ms: number | null;
    from_pool: number;
    ended_at: number | null;
    end_reason: string | null;
  };
  workspace_events: { id: Generated<number>; workspace_id: string; time: number; type: string; message: string };
  /** A browser's way into one workspace: a one-time `code` or the `cookie` it became (SHA-256 of the secret). */
  workspace_logins: { key_hash: string; workspace_id: string; user_id: string; kind: string; created_at: number; expires_at: number };
  /** A sweep: spec (JSON) from the API, status from its controller; `principal` is who its trials are submitted as. */
  sweeps: {
    sweep_id: string;
    name: string;
    team_id: string;
    owner: string;
    principal: string;
    spec: string;
    /** RUNNING, CANCELLING, FAILING, SUCCEEDED, FAILED or CANCELLED. */
    phase: string;
    experiment_id: string;
    parent_run_id: string | null;
    trials_target: number;
    best_trial: number | null;
    best_value: number | null;
    message: string | null;
    created_at: number;
    updated_at: number;
    finished_at: number | null;
  };
  /** One trial of a sweep: its parameters and its job (id chosen before it is submitted). */
  sweep_trials: {
    sweep_id: string;
    trial_index: number;
    params: string;
    job_id: string;
    run_id: string | null;
    /** PENDING (job not yet confirmed), QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED or STOPPED (early). */
    phase: string;
    objective: number | null;
    objective_step: number | null;
    rungs: Generated<string>;
    message: string | null;
    created_at: number;
    updated_at: number;
  };
  sweep_events: { id: Generated<number>; sweep_id: string; time: number; type: string; message: string };
  /** A person's feedback on the platform (`paved feedback`): a score from 1 to 5, a bounded comment, the milestone it followed. */
  feedback: { id: string; user_id: string; user_name: string; team_id: string | null; score: number; comment: string | null; context: string | null; created_at: number };
  /** A model monitor: one deployed version in one environment, its spec, reference (an evaluation's data) and prediction baseline. */
  monitors: {
    monitor_id: string;
    team_id: string;
    model_id: string;
    model_name: string;
    version: number;
    environment: string;
    spec: string;
    evaluation_id: string;
    basis: string;
    prediction_baseline: string | null;
    created_by: string;
    created_at: number;
    /** Where the window being filled starts. */
    window_start: number;
  };
  /** A closed monitor window: its counts, figures (JSON) and breaches (JSON). `status`: ok, breach, insufficient or idle. */
  monitor_windows: {
    id: Generated<number>;
    monitor_id: string;
    window_start: number;
    window_end: number;
    status: string;
    requests: number;
    errors: number;
    rows_seen: number;
    rows_kept: number;
    rows_dropped: number;
    figures: string;
    breaches: string;
  };
  /** A team's webhook: a URL on an allow-listed host, in the generic JSON or Alertmanager format. */
  alert_receivers: { receiver_id: string; team_id: string; name: string; url: string; format: string; created_by: string; created_at: number };
  /** An alert rule: spec (JSON: signal, severity, scope, receivers, pauseRollout). */
  alert_rules: { rule_id: string; team_id: string; name: string; spec: string; created_by: string; created_at: number };
  /** An alert instance: firing until its condition clears, then resolved; `deliveries` (JSON) is what each receiver was sent. */
  alerts: {
    alert_id: string;
    rule_id: string;
    team_id: string;
    fingerprint: string;
    severity: string;
    labels: string;
    annotations: string;
    state: string;
    started_at: number;
    resolved_at: number | null;
    deliveries: string;
    paused_deployment: string | null;
    pending: number;
    updated_at: number;
  };
  /** A team's dataset; names are unique across the platform. */
  datasets: { dataset_id: string; team_id: string; name: string; description: string | null; created_by: string; created_at: number; updated_at: number };
  /** An immutable dataset version: the digest over its files, source and lineage (JSON). */
  dataset_versions: {
    dataset_id: string;
    version: number;
    digest: string;
    file_count: number;
    total_bytes: number;
    row_count: number | null;
    description: string | null;
    source: string | null;
    lineage: string | null;
    created_by: string;
    created_at: number;
  };
  /** A file of a dataset version: its blob, format (csv, parquet, other) and analysis (JSON, tabular files only). */
  dataset_files: { dataset_id: string; version: number; path: string; digest: string; size: number; format: string; row_count: number | null; analysis: string | null };
  /** A dataset alias (e.g. prod) naming one of its versions. */
  dataset_aliases: { dataset_id: string; alias: string; version: number; updated_by: string; updated_at: number };
  /** A blob a team stored for its datasets (once per team and digest): what the storage quota counts. */
  dataset_blobs: { team_id: string; digest: string; size: number; created_by: string; created_at: number };
  /** A team's named secret: its value AES-256-GCM encrypted under the server's key (key_id names which), who set it and when. */
  team_secrets: { secret_id: string; team_id: string; name: string; ciphertext: string; key_id: string; created_by: string; created_at: number; updated_by: string; updated_at: number };
  /** An applied pipeline (kind: Pipeline): its spec (JSON) and version; names are unique across the platform. */
  pipelines: { pipeline_id: string; name: string; team_id: string; description: string | null; spec: string; version: number; created_by: string; created_at: number; updated_at: number };
  /** A run of a pipeline: its parameters (JSON), who started it (`principal`, JSON: its steps act as them) and its phase. */
  pipeline_runs: {
    run_id: string;
    pipeline_id: string;
    pipeline_name: string;
    pipeline_version: number;
    team_id: string;
    owner: string;
    principal: string;
    params: string;
    /** RUNNING, CANCELLING, SUCCEEDED, FAILED or CANCELLED. */
    phase: string;
    message: string | null;
    created_at: number;
    updated_at: number;
    finished_at: number | null;
  };
  /** One step instance of a pipeline run (train, or train[2] in a fan-out): plan, state, resolved body, cache key, outputs (JSON). */
  pipeline_steps: {
    run_id: string;
    step_key: string;
    pipeline_id: string;
    position: number;
    step_name: string;
    kind: string;
    plan: string;
    item: string | null;
    /** pending, running, succeeded, failed, skipped, cached or cancelled. */
    phase: string;
    attempt: number;
    start_key: string | null;
    handle: string | null;
    body: string | null;
    cache_key: string | null;
    cached_from_run: string | null;
    cached_from_step: string | null;
    outputs: string | null;
    message: string | null;
    started_at: number | null;
    deadline_at: number | null;
    finished_at: number | null;
    updated_at: number;
  };
  pipeline_events: { id: Generated<number>; run_id: string; time: number; type: string; message: string };
  /** A batch prediction (issue 10): its spec (JSON) from the API, its status from the predictions controller. */
  batch_predictions: {
    prediction_id: string;
    team_id: string;
    model_name: string;
    model_version: number;
    input: string;
    output_dataset: string;
    spec: string;
    /** QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED. */
    phase: string;
    rows_done: number;
    rows_total: number | null;
    output_version: number | null;
    seconds: number | null;
    rows_per_second: number | null;
    message: string | null;
    attempts: number;
    created_by: string;
    created_at: number;
    started_at: number | null;
    finished_at: number | null;
    updated_at: number;
  };
  /** What starts a pipeline by itself: a cron schedule, a dataset's new version, a git push (spec and state JSON). */
  pipeline_triggers: { trigger_id: string; team_id: string; pipeline_name: string; name: string; kind: string; spec: string; state: string; created_by: string; acts_as: string; created_at: number; updated_at: number };
  feature_sets: { name: string; version: number; team_id: string; spec: string; pinned: string; created_by: string; created_at: number };
  /** Each firing of a trigger, under the key that names it (unique per trigger: a replay runs nothing), with the run it starts. */
  trigger_firings: { trigger_id: string; firing_key: string; run_id: string; outcome: string; message: string | null; params: string; created_at: number; updated_at: number };
  /** A monitor window's sampled rows (a CSV blob), kept for monitors with keepSamples. */
  monitor_samples: { monitor_id: string; window_start: number; window_end: number; digest: string; size: number; rows: number };
  /** One row (id 1): the control plane's leader, its epoch (raised at each election) and the URL replicas forward to. */
  control_plane_leader: { id: number; epoch: number; holder: string | null; url: string | null; elected_at: number | null };
  /** A garbage-collected run (032): who it belonged to, when it was deleted and collected, what collecting it freed. */
  run_tombstones: {
    run_id: string;
    experiment_id: string;
    team_id: string;
    run_name: string;
    deleted_time: number;
    collected_at: number;
    bytes_freed: number;
    metric_points: number;
    artifact_files: number;
  };
  /** Blobs a committed collection let go of, until a pass removes them from the artifact store or finds them referenced (032). */
  gc_blobs: { digest: string; size: number; team_id: string; queued_at: number };
}
