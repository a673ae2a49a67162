// Administration: teams and members with roles, users and service accounts, quotas, budgets and
// costs, tokens, and the audit log, each a tab in the URL (?tab=…, with its filters beside it).
// The server decides who may do what (team admins their teams, platform admins everything): the
// page asks, and shows a refusal as the server words it rather than hiding what was refused.
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { api } from "../api.ts";
import type { AuditRecord, Budget, CostReport, CreatedToken, QuotaLine, QuotaRequest, Team, TeamQuota, TeamRole, TokenInfo, User } from "../../../src/client/types.ts";
import { ConfirmButton, Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import type { PageProps } from "../page-props.ts";
import { Link, navigate, useLocation, useQueryParam, withQuery } from "../router.tsx";
import { useSession } from "../session.tsx";
import "./admin.css";

const ROLES: TeamRole[] = ["viewer", "developer", "maintainer", "admin"];
const TABS = [
  { id: "teams", label: "Teams", help: "teams" },
  { id: "users", label: "Users", help: "teams" },
  { id: "quotas", label: "Quotas", help: "teams" },
  { id: "costs", label: "Budgets and costs", help: "teams" },
  { id: "tokens", label: "Tokens", help: "teams" },
  { id: "audit", label: "Audit log", help: "audit" },
] as const;
type TabId = (typeof TABS)[number]["id"];

export default function Admin(_props: PageProps) {
  const [tab] = useQueryParam("tab", "teams");
  const current = TABS.find((t) => t.id === tab) ?? TABS[0];
  return (
    <>
      <PageHeader title="Admin" help={current.help} />
      <nav className="tabs" aria-label="Administration">
        {TABS.map((t) => (
          // A tab keeps nothing of another tab's filters.
          <Link key={t.id} to={t.id === "teams" ? "/admin" : `/admin?tab=${t.id}`} aria-current={t.id === current.id ? "page" : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      <TabBody tab={current.id} />
    </>
  );
}

function TabBody({ tab }: { tab: TabId }) {
  switch (tab) {
    case "teams":
      return <TeamsTab />;
    case "users":
      return <UsersTab />;
    case "quotas":
      return <QuotasTab />;
    case "costs":
      return <CostsTab />;
    case "tokens":
      return <TokensTab />;
    case "audit":
      return <AuditTab />;
  }
}

// ---- small pieces ----

/** Runs a change, keeping its error (the server's code and message) and whether it is under way. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState("");
  const run = async (what: string, action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    setDone("");
    try {
      await action();
      setDone(what);
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, done, run };
}

function Field({ label, children, check = false }: { label: string; children: (id: string) => ReactNode; check?: boolean }) {
  const id = useId();
  return (
    <div className={check ? "field check" : "field"}>
      {check ? children(id) : null}
      <label htmlFor={id}>{label}</label>
      {check ? null : children(id)}
    </div>
  );
}

function RoleSelect({ id, value, onChange, label }: { id?: string; value: TeamRole; onChange: (role: TeamRole) => void; label?: string }) {
  return (
    <select id={id} aria-label={label} value={value} onChange={(e) => onChange(e.target.value as TeamRole)}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

/** A secret the server shows once (a new token): shown here once too, never kept. */
function ShownOnce({ created }: { created: CreatedToken | undefined }) {
  if (!created) return null;
  return (
    <div className="secret-once" role="status">
      Token <strong>{created.name}</strong> for {created.user}
      {created.expiresAt ? (
        <>
          {" "}
          (expires <Time ms={created.expiresAt} />)
        </>
      ) : null}
      : <code>{created.token}</code>
      <div className="hint">Copy it now: Paved stores only its hash and cannot show it again.</div>
    </div>
  );
}

function Done({ what }: { what: string }) {
  return what ? (
    <p className="hint" role="status">
      {what}
    </p>
  ) : null;
}

// ---- teams and members ----

function TeamsTab() {
  const session = useSession();
  const [selected] = useQueryParam("team");
  const teams = useApi(() => api.listTeams(), []);
  const list = teams.data ?? [];
  const team = list.find((t) => t.name === selected) ?? (selected ? undefined : list[0]);
  return (
    <div className="admin-layout">
      <section className="panel admin-section" aria-labelledby="teams-heading">
        <h2 id="teams-heading">{session.platformAdmin ? "All teams" : "My teams"}</h2>
        <ErrorNotice error={teams.error} />
        {teams.data === undefined ? (
          teams.error ? null : <Loading what="Loading teams" />
        ) : list.length === 0 ? (
          <Empty>No teams yet.</Empty>
        ) : (
          <ul className="team-list">
            {list.map((t) => (
              <li key={t.name}>
                <Link to={withQuery({ team: t.name })} aria-current={t.name === team?.name ? "page" : undefined}>
                  {t.name}
                </Link>
              </li>
            ))}
          </ul>
        )}
        {session.platformAdmin ? <CreateTeam onCreated={teams.reload} /> : null}
      </section>
      <div>
        {team ? (
          <TeamDetail key={team.name} team={team} onChange={teams.reload} />
        ) : selected && teams.data ? (
          <ErrorNotice error={`Team '${selected}' is not one you can see.`} />
        ) : null}
      </div>
    </div>
  );
}

function CreateTeam({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await action.run(`Team ${name} created.`, () => api.createTeam({ name, ...(description ? { description } : {}) }))) {
      navigate(withQuery({ team: name }), { replace: true });
      setName("");
      setDescription("");
      onCreated();
    }
  };
  return (
    <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Create a team">
      <Field label="New team">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required maxLength={63} />}</Field>
      <Field label="Description">{(id) => <input id={id} value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} />}</Field>
      <button type="submit" disabled={action.busy}>
        Create team
      </button>
      <ErrorNotice error={action.error} />
    </form>
  );
}

function TeamDetail({ team, onChange }: { team: Team; onChange: () => void }) {
  const action = useAction();
  const setRole = (user: string, role: TeamRole) => void action.run(`${user} is now ${role} in ${team.name}.`, async () => {
    await api.setTeamMember(team.name, user, role);
    onChange();
  });
  const services = team.members.filter((m) => m.kind === "service");
  return (
    <section className="panel admin-section" aria-labelledby="team-heading">
      <h2 id="team-heading">Team {team.name}</h2>
      {team.description ? <p>{team.description}</p> : null}
      <p className="hint">
        Created <Time ms={team.createdAt} />. Team admins and platform admins change members; the server refuses others with the reason.
      </p>
      <ErrorNotice error={action.error} />
      <Done what={action.done} />
      <table className="admin-table">
        <caption className="visually-hidden">Members of {team.name}</caption>
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">Kind</th>
            <th scope="col">Role</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {team.members.map((m) => (
            <tr key={m.user}>
              <td>{m.user}</td>
              <td>{m.kind === "service" ? "service account" : "user"}</td>
              <td>
                <RoleSelect label={`Role of ${m.user}`} value={m.role} onChange={(role) => setRole(m.user, role)} />
              </td>
              <td>
                <ConfirmButton
                  label={`Remove ${m.user}`}
                  danger
                  question={
                    <>
                      Take <strong>{m.user}</strong> out of team <strong>{team.name}</strong>? Their next request no longer sees the team's work.
                    </>
                  }
                  onConfirm={async () => {
                    await api.removeTeamMember(team.name, m.user);
                    onChange();
                  }}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {team.members.length === 0 ? <Empty>No members yet.</Empty> : null}
      <AddMember team={team.name} onAdded={onChange} />
      <h3>Service accounts</h3>
      <p className="hint">For CI and automation: a member of this team that signs in only with tokens.</p>
      <CreateServiceAccount team={team.name} onCreated={onChange} />
      {services.length ? <ServiceAccountToken team={team.name} accounts={services.map((s) => s.user)} /> : null}
    </section>
  );
}

function AddMember({ team, onAdded }: { team: string; onAdded: () => void }) {
  const [user, setUser] = useState("");
  const [role, setRole] = useState<TeamRole>("developer");
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await action.run(`${user} added to ${team} as ${role}.`, () => api.setTeamMember(team, user, role))) {
      setUser("");
      onAdded();
    }
  };
  return (
    <>
      <h3>Add a member</h3>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Add a member">
        <Field label="User">{(id) => <input id={id} value={user} onChange={(e) => setUser(e.target.value)} required maxLength={128} />}</Field>
        <Field label="Role">{(id) => <RoleSelect id={id} value={role} onChange={setRole} />}</Field>
        <button type="submit" className="primary" disabled={action.busy}>
          Add member
        </button>
      </form>
      <ErrorNotice error={action.error} />
      <Done what={action.done} />
    </>
  );
}

function CreateServiceAccount({ team, onCreated }: { team: string; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<TeamRole>("developer");
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await action.run(`Service account ${name} created in ${team}.`, () => api.createServiceAccount(team, { name, role }))) {
      setName("");
      onCreated();
    }
  };
  return (
    <>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Create a service account">
        <Field label="Service account name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required maxLength={128} />}</Field>
        <Field label="Its role">{(id) => <RoleSelect id={id} value={role} onChange={setRole} />}</Field>
        <button type="submit" disabled={action.busy}>
          Create service account
        </button>
      </form>
      <ErrorNotice error={action.error} />
      <Done what={action.done} />
    </>
  );
}

function ServiceAccountToken({ team, accounts }: { team: string; accounts: string[] }) {
  const [account, setAccount] = useState(accounts[0] ?? "");
  const [name, setName] = useState("ci");
  const [days, setDays] = useState("90");
  const [created, setCreated] = useState<CreatedToken | undefined>(undefined);
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(undefined);
    await action.run("", async () => setCreated(await api.createServiceAccountToken(team, account, { name, expiresInDays: Number(days) })));
  };
  return (
    <>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Create a service account token">
        <Field label="Account">
          {(id) => (
            <select id={id} value={account} onChange={(e) => setAccount(e.target.value)}>
              {accounts.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Token name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />}</Field>
        <Field label="Days valid">{(id) => <input id={id} type="number" min={1} max={366} value={days} onChange={(e) => setDays(e.target.value)} required />}</Field>
        <button type="submit" disabled={action.busy}>
          Create token
        </button>
      </form>
      <ErrorNotice error={action.error} />
      <ShownOnce created={created} />
    </>
  );
}

// ---- users ----

function UsersTab() {
  const users = useApi(() => api.listUsers(), []);
  const [created, setCreated] = useState<CreatedToken | undefined>(undefined);
  return (
    <section className="panel admin-section" aria-labelledby="users-heading">
      <h2 id="users-heading">Users and service accounts</h2>
      <ErrorNotice error={users.error} />
      {users.data === undefined ? (
        users.error ? null : <Loading what="Loading users" />
      ) : (
        <>
          <table className="admin-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Display name</th>
                <th scope="col">Email</th>
                <th scope="col">Teams</th>
                <th scope="col">Sign-in</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u: User) => (
                <tr key={u.id}>
                  <td>
                    {u.name}
                    {u.platformAdmin ? <span className="badge state-active"> platform admin</span> : null}
                  </td>
                  <td>{u.kind === "service" ? "service account" : "user"}</td>
                  <td>{u.displayName ?? "—"}</td>
                  <td>{u.email ?? "—"}</td>
                  <td>{u.teams.map((t) => `${t.team} (${t.role})`).join(", ") || "—"}</td>
                  <td>{u.sso ? `SSO (${u.sso.issuer})` : "tokens"}</td>
                  <td>{u.disabled ? <span className="fail">disabled</span> : "active"}</td>
                  <td>
                    {u.disabled ? null : (
                      <ConfirmButton
                        label={`Disable ${u.name}`}
                        danger
                        question={
                          <>
                            Disable <strong>{u.name}</strong>? All their tokens and sessions stop working at once.
                          </>
                        }
                        onConfirm={async () => {
                          await api.disableUser(u.name);
                          users.reload();
                        }}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <CreateUser onCreated={users.reload} />
          <UserToken users={users.data.filter((u) => !u.disabled).map((u) => u.name)} onCreated={setCreated} />
          <ShownOnce created={created} />
        </>
      )}
    </section>
  );
}

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [email, setEmail] = useState("");
  const [team, setTeam] = useState("");
  const [role, setRole] = useState<TeamRole>("developer");
  const [platformAdmin, setPlatformAdmin] = useState(false);
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = {
      name,
      ...(displayName ? { displayName } : {}),
      ...(email ? { email } : {}),
      ...(platformAdmin ? { platformAdmin } : {}),
      ...(team ? { teams: [{ team, role }] } : {}),
    };
    if (await action.run(`User ${name} created.`, () => api.createUser(body))) {
      setName("");
      setDisplayName("");
      setEmail("");
      setPlatformAdmin(false);
      onCreated();
    }
  };
  return (
    <>
      <h3>Add a user</h3>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Add a user">
        <Field label="User name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required maxLength={128} />}</Field>
        <Field label="Display name">{(id) => <input id={id} value={displayName} onChange={(e) => setDisplayName(e.target.value)} maxLength={200} />}</Field>
        <Field label="Email">{(id) => <input id={id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} maxLength={320} />}</Field>
        <Field label="Team (optional)">{(id) => <input id={id} value={team} onChange={(e) => setTeam(e.target.value)} maxLength={63} />}</Field>
        <Field label="Role in the team">{(id) => <RoleSelect id={id} value={role} onChange={setRole} />}</Field>
        <Field label="Platform admin" check>
          {(id) => <input id={id} type="checkbox" checked={platformAdmin} onChange={(e) => setPlatformAdmin(e.target.checked)} />}
        </Field>
        <button type="submit" className="primary" disabled={action.busy}>
          Add user
        </button>
      </form>
      <ErrorNotice error={action.error} />
      <Done what={action.done} />
    </>
  );
}

function UserToken({ users, onCreated }: { users: string[]; onCreated: (t: CreatedToken | undefined) => void }) {
  const [user, setUser] = useState(users[0] ?? "");
  const [name, setName] = useState("first sign-in");
  const [days, setDays] = useState("7");
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    onCreated(undefined);
    await action.run("", async () => onCreated(await api.createUserToken(user || users[0] || "", { name, expiresInDays: Number(days) })));
  };
  return (
    <>
      <h3>A token for a user</h3>
      <p className="hint">A person's first token, before single sign-on; they then make their own.</p>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Create a token for a user">
        <Field label="For user">
          {(id) => (
            <select id={id} value={user} onChange={(e) => setUser(e.target.value)}>
              {users.map((u) => (
                <option key={u} value={u}>
                  {u}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Token name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />}</Field>
        <Field label="Days valid">{(id) => <input id={id} type="number" min={1} max={366} value={days} onChange={(e) => setDays(e.target.value)} required />}</Field>
        <button type="submit" disabled={action.busy}>
          Create token
        </button>
      </form>
      <ErrorNotice error={action.error} />
    </>
  );
}

// ---- quotas ----

const QUOTA_FIELDS = [
  { key: "gpus", label: "GPUs" },
  { key: "gpuHoursPerMonth", label: "GPU-hours per month" },
  { key: "cpus", label: "CPUs" },
  { key: "memoryMiB", label: "Memory (MiB or 64Gi)" },
  { key: "servingReplicas", label: "Serving replicas" },
  { key: "storageBytes", label: "Storage (bytes or 500Gi)" },
] as const;

const RESOURCE_WORDS: Record<QuotaLine["resource"], string> = {
  gpus: "GPUs",
  gpuHoursPerMonth: "GPU-hours this month",
  cpus: "CPUs",
  memoryMiB: "memory",
  servingReplicas: "serving replicas",
  storageBytes: "storage",
};

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function quotaAmount(resource: QuotaLine["resource"], value: number | null): string {
  if (value === null) return "unlimited";
  if (resource === "storageBytes") return bytes(value);
  if (resource === "memoryMiB") return bytes(value * 1024 * 1024);
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function QuotasTab() {
  const session = useSession();
  const quotas = useApi(() => api.listQuotas(), []);
  return (
    <section className="admin-section" aria-labelledby="quotas-heading">
      <h2 id="quotas-heading">Quotas</h2>
      <p className="hint">One ledger for jobs, workspaces and serving: what each team may hold at once, what it holds, and what holds it.</p>
      <ErrorNotice error={quotas.error} />
      {quotas.data === undefined ? (
        quotas.error ? null : <Loading what="Loading quotas" />
      ) : quotas.data.length === 0 ? (
        <Empty>You are in no team, so no quota applies to you.</Empty>
      ) : (
        quotas.data.map((q) => <TeamQuotaPanel key={q.team} quota={q} editable={session.platformAdmin} onSaved={quotas.reload} />)
      )}
    </section>
  );
}

function TeamQuotaPanel({ quota, editable, onSaved }: { quota: TeamQuota; editable: boolean; onSaved: () => void }) {
  const headingId = useId();
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h3 id={headingId}>Team {quota.team}</h3>
      <table className="admin-table">
        <thead>
          <tr>
            <th scope="col">Resource</th>
            <th scope="col" className="num">
              Used
            </th>
            <th scope="col" className="num">
              Limit
            </th>
            <th scope="col">From</th>
            <th scope="col">Held by</th>
          </tr>
        </thead>
        <tbody>
          {quota.lines.map((l) => (
            <tr key={`${l.resource}/${l.gpuType ?? ""}`}>
              <td>
                {RESOURCE_WORDS[l.resource]}
                {l.gpuType ? ` (${l.gpuType})` : ""}
              </td>
              <td className="num">{quotaAmount(l.resource, l.used)}</td>
              <td className="num">{quotaAmount(l.resource, l.limit)}</td>
              <td>{l.source === "team" ? "team setting" : l.source === "default" ? "server default" : "no limit"}</td>
              <td>
                {l.by.length === 0 ? (
                  "—"
                ) : (
                  <ul className="holders">
                    {l.by.slice(0, 5).map((h, i) => (
                      <li key={`${h.kind}/${h.id ?? h.name}/${i}`}>
                        {h.kind === "job" && h.id ? <Link to={`/jobs/${encodeURIComponent(h.id)}`}>{h.name}</Link> : h.name} ({quotaAmount(l.resource, h.amount)})
                      </li>
                    ))}
                    {l.by.length > 5 ? <li>and {l.by.length - 5} more</li> : null}
                  </ul>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {quota.updatedBy ? (
        <p className="hint">
          Set by {quota.updatedBy}, <Time ms={quota.updatedAt} />.
        </p>
      ) : null}
      {editable ? <QuotaForm quota={quota} onSaved={onSaved} /> : <p className="hint">Platform admins set quotas.</p>}
    </section>
  );
}

type QuotaField = (typeof QUOTA_FIELDS)[number]["key"];

function QuotaForm({ quota, onSaved }: { quota: TeamQuota; onSaved: () => void }) {
  const initial = () => {
    const values = {} as Record<QuotaField, string>;
    for (const f of QUOTA_FIELDS) {
      const v = quota.settings[f.key];
      values[f.key] = v === undefined ? "" : v === null ? "unlimited" : String(v);
    }
    return values;
  };
  const [values, setValues] = useState(initial);
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const settings: Record<string, unknown> = {};
    if (quota.settings.gpusByType !== undefined) settings.gpusByType = quota.settings.gpusByType;
    for (const f of QUOTA_FIELDS) {
      const text = values[f.key].trim();
      if (text === "") continue;
      if (/^(unlimited|none|null)$/i.test(text)) settings[f.key] = null;
      else if (/^\d+(\.\d+)?$/.test(text)) settings[f.key] = Number(text);
      else settings[f.key] = text;
    }
    if (await action.run(`Quota of ${quota.team} saved.`, () => api.setQuota(quota.team, settings as QuotaRequest))) onSaved();
  };
  return (
    <form className="admin-form quota-form" onSubmit={(e) => void submit(e)} aria-label={`Set the quota of ${quota.team}`}>
      {QUOTA_FIELDS.map((f) => (
        <Field key={f.key} label={f.label}>
          {(id) => <input id={id} value={values[f.key]} placeholder="default" onChange={(e) => setValues({ ...values, [f.key]: e.target.value })} />}
        </Field>
      ))}
      <button type="submit" className="primary" disabled={action.busy}>
        Save quota
      </button>
      <p className="hint">Empty: the server default; "unlimited": no limit.</p>
      <ErrorNotice error={action.error} />
      <Done what={action.done} />
    </form>
  );
}

// ---- budgets and costs ----

const GROUPINGS = ["team", "job", "deployment", "user"] as const;

function money(value: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 2 }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency}`;
  }
}

function CostsTab() {
  const [month, setMonth] = useQueryParam("month");
  const [team, setTeam] = useQueryParam("team");
  const [by, setBy] = useQueryParam("by", "team");
  const grouping = (GROUPINGS as readonly string[]).includes(by) ? (by as (typeof GROUPINGS)[number]) : "team";
  const costs = useApi(() => api.getCosts({ ...(month ? { month } : {}), ...(team ? { team } : {}), by: grouping }), [month, team, grouping]);
  const teams = useApi(() => api.listTeams(), []);
  return (
    <>
      <section className="panel admin-section" aria-labelledby="costs-heading">
        <h2 id="costs-heading">Costs</h2>
        <form className="admin-form" aria-label="Cost report filters" onSubmit={(e) => e.preventDefault()}>
          <Field label="Month">{(id) => <input id={id} type="month" value={month || costs.data?.month || ""} onChange={(e) => setMonth(e.target.value)} />}</Field>
          <Field label="Team">
            {(id) => (
              <select id={id} value={team} onChange={(e) => setTeam(e.target.value)}>
                <option value="">every team</option>
                {(teams.data ?? []).map((t) => (
                  <option key={t.name} value={t.name}>
                    {t.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Itemised by">
            {(id) => (
              <select id={id} value={grouping} onChange={(e) => setBy(e.target.value)}>
                {GROUPINGS.map((g) => (
                  <option key={g} value={g}>
                    {g === "team" ? "team totals only" : g}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </form>
        <ErrorNotice error={costs.error} />
        {costs.data === undefined ? costs.error ? null : <Loading what="Loading costs" /> : <CostTables report={costs.data} />}
      </section>
      <Budgets teams={(teams.data ?? []).map((t) => t.name)} />
    </>
  );
}

function CostTables({ report }: { report: CostReport }) {
  const c = report.currency;
  return (
    <>
      <p>
        {report.month}: <strong>{money(report.total, c)}</strong> in all (
        <Time ms={report.from} /> to <Time ms={report.to} />
        ).
      </p>
      <table className="admin-table">
        <caption className="visually-hidden">Cost per team</caption>
        <thead>
          <tr>
            <th scope="col">Team</th>
            <th scope="col" className="num">
              Jobs
            </th>
            <th scope="col" className="num">
              Deployments
            </th>
            <th scope="col" className="num">
              Storage
            </th>
            <th scope="col" className="num">
              Total
            </th>
            <th scope="col">Budget</th>
          </tr>
        </thead>
        <tbody>
          {report.teams.map((t) => (
            <tr key={t.team}>
              <td>{t.team}</td>
              <td className="num">{money(t.jobs, c)}</td>
              <td className="num">{money(t.deployments, c)}</td>
              <td className="num">{money(t.storage, c)}</td>
              <td className="num">{money(t.total, c)}</td>
              <td>{t.budget ? `${t.budget.percent.toFixed(0)}% of ${money(t.budget.amount, c)}` : "none"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {report.teams.length === 0 ? <Empty>Nothing cost anything this month.</Empty> : null}
      {report.items ? (
        <>
          <h3>Most expensive first</h3>
          <table className="admin-table">
            <caption className="visually-hidden">Cost per item</caption>
            <thead>
              <tr>
                <th scope="col">{ITEM_WORDS[report.items[0]?.kind ?? "job"]}</th>
                <th scope="col">Team</th>
                <th scope="col">Who</th>
                <th scope="col">Usage</th>
                <th scope="col" className="num">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {report.items.map((item, i) => (
                <tr key={`${item.kind}/${item.id}/${i}`}>
                  <td>
                    {item.kind === "job" && item.id ? (
                      <Link to={`/jobs/${encodeURIComponent(item.id)}`}>{item.name}</Link>
                    ) : item.kind === "deployment" && item.id ? (
                      <Link to={`/deployments/${encodeURIComponent(item.id)}`}>{item.name}</Link>
                    ) : (
                      item.name
                    )}
                  </td>
                  <td>{item.team}</td>
                  <td>{item.user ?? "—"}</td>
                  <td>{usageOf(item)}</td>
                  <td className="num">{money(item.cost, c)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.items.length === 0 ? <Empty>No items.</Empty> : null}
          {report.more ? <p className="hint">and {report.more} more not listed.</p> : null}
        </>
      ) : null}
    </>
  );
}

const ITEM_WORDS: Record<NonNullable<CostReport["items"]>[number]["kind"], string> = { job: "Job", deployment: "Deployment", user: "User" };

function usageOf(item: NonNullable<CostReport["items"]>[number]): string {
  const parts: string[] = [];
  const h = (n: number | undefined, unit: string) => {
    if (n) parts.push(`${n.toFixed(2)} ${unit}`);
  };
  h(item.gpuHours, "GPU-h");
  h(item.cpuHours, "CPU-h");
  h(item.memoryGBHours, "GB-h memory");
  h(item.replicaHours, "replica-h");
  if (item.requests) parts.push(`${item.requests} requests`);
  h(item.storageGBMonths, "GB-months");
  return parts.join(", ") || "—";
}

function Budgets({ teams }: { teams: string[] }) {
  const budgets = useApi(() => api.listBudgets(), []);
  const [team, setTeam] = useState("");
  const [amount, setAmount] = useState("");
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const target = team || teams[0] || "";
    if (await action.run(`Budget of ${target} set.`, () => api.setBudget(target, { amount: Number(amount) }))) {
      setAmount("");
      budgets.reload();
    }
  };
  return (
    <section className="panel admin-section" aria-labelledby="budgets-heading">
      <h2 id="budgets-heading">Budgets</h2>
      <ErrorNotice error={budgets.error} />
      {budgets.data === undefined ? (
        budgets.error ? null : <Loading what="Loading budgets" />
      ) : budgets.data.length === 0 ? (
        <Empty>No team has a budget.</Empty>
      ) : (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">Team</th>
              <th scope="col" className="num">
                Monthly budget
              </th>
              <th scope="col" className="num">
                Spent
              </th>
              <th scope="col">Thresholds</th>
              <th scope="col">State</th>
              <th scope="col">Webhook</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {budgets.data.map((b: Budget) => (
              <tr key={b.team}>
                <td>{b.team}</td>
                <td className="num">{money(b.amount, b.currency)}</td>
                <td className="num">
                  {money(b.spend, b.currency)} ({b.percent.toFixed(0)}%)
                </td>
                <td>{b.thresholds.map((t) => `${t.at}% ${t.action}`).join(", ")}</td>
                <td>{b.blocked ? <span className="fail">blocked: new work refused</span> : <span className="pass">open</span>}</td>
                <td>{b.webhookHost ?? "—"}</td>
                <td>
                  <ConfirmButton
                    label={`Remove budget of ${b.team}`}
                    danger
                    question={
                      <>
                        Remove the budget of <strong>{b.team}</strong>? Its work is no longer blocked or stopped by it.
                      </>
                    }
                    onConfirm={async () => {
                      await api.deleteBudget(b.team);
                      budgets.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Set a budget</h3>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Set a budget">
        <Field label="Team">
          {(id) => (
            <select id={id} value={team || teams[0] || ""} onChange={(e) => setTeam(e.target.value)}>
              {teams.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Amount per month">{(id) => <input id={id} type="number" min={0.01} step="any" value={amount} onChange={(e) => setAmount(e.target.value)} required />}</Field>
        <button type="submit" className="primary" disabled={action.busy || teams.length === 0}>
          Set budget
        </button>
      </form>
      <p className="hint">Thresholds default to 50% and 90% notify, 100% block new jobs and deployments. Team admins set their team's.</p>
      <ErrorNotice error={action.error} />
      <Done what={action.done} />
    </section>
  );
}

// ---- tokens ----

function TokensTab() {
  const session = useSession();
  const [all] = useQueryParam("all");
  const everyone = all === "1";
  const tokens = useApi(() => api.listTokens(everyone), [everyone]);
  return (
    <section className="panel admin-section" aria-labelledby="tokens-heading">
      <div className="section-head">
        <h2 id="tokens-heading">{everyone ? "Everyone's tokens" : "My tokens"}</h2>
        {session.platformAdmin || everyone ? (
          <nav className="scope-switch" aria-label="Whose tokens">
            <Link to={withQuery({ all: undefined })} aria-current={!everyone ? "page" : undefined}>
              Mine
            </Link>
            <Link to={withQuery({ all: "1" })} aria-current={everyone ? "page" : undefined}>
              Everyone's
            </Link>
          </nav>
        ) : null}
      </div>
      <ErrorNotice error={tokens.error} />
      {tokens.data === undefined ? (
        tokens.error ? null : <Loading what="Loading tokens" />
      ) : tokens.data.length === 0 ? (
        <Empty>No personal tokens.</Empty>
      ) : (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">User</th>
              <th scope="col">Default team</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((t: TokenInfo) => (
              <tr key={t.id}>
                <td>
                  {t.name} <span className="hint mono">{t.id}</span>
                </td>
                <td>{t.user}</td>
                <td>{t.team ?? "—"}</td>
                <td>
                  <Time ms={t.createdAt} />
                </td>
                <td>{t.expiresAt ? <Time ms={t.expiresAt} /> : "never"}</td>
                <td>
                  <ConfirmButton
                    label={`Revoke ${t.name}`}
                    danger
                    question={
                      <>
                        Revoke token <strong>{t.name}</strong> of <strong>{t.user}</strong>? It stops working at once
                        {t.user === session.name ? ", and so does a browser session opened with it" : ""}.
                      </>
                    }
                    onConfirm={async () => {
                      await api.revokeToken(t.id);
                      tokens.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <CreateToken teams={session.teams.map((t) => t.team)} onCreated={tokens.reload} />
    </section>
  );
}

function CreateToken({ teams, onCreated }: { teams: string[]; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [days, setDays] = useState("90");
  const [team, setTeam] = useState("");
  const [created, setCreated] = useState<CreatedToken | undefined>(undefined);
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(undefined);
    if (await action.run("", async () => setCreated(await api.createToken({ name, expiresInDays: Number(days), ...(team ? { team } : {}) })))) {
      setName("");
      onCreated();
    }
  };
  return (
    <>
      <h3>Create a personal token</h3>
      <form className="admin-form" onSubmit={(e) => void submit(e)} aria-label="Create a personal token">
        <Field label="What it is for">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} placeholder="laptop" />}</Field>
        <Field label="Days valid">{(id) => <input id={id} type="number" min={1} max={366} value={days} onChange={(e) => setDays(e.target.value)} required />}</Field>
        <Field label="Default team">
          {(id) => (
            <select id={id} value={team} onChange={(e) => setTeam(e.target.value)}>
              <option value="">none</option>
              {teams.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" className="primary" disabled={action.busy}>
          Create token
        </button>
      </form>
      <ErrorNotice error={action.error} />
      <ShownOnce created={created} />
    </>
  );
}

// ---- audit log ----

const AUDIT_FILTERS = [
  { key: "actor", label: "Actor", placeholder: "ada" },
  { key: "action", label: "Action", placeholder: "teams:*" },
  { key: "team", label: "Team", placeholder: "" },
  { key: "outcome", label: "Outcome", placeholder: "failure, 403, FORBIDDEN" },
  { key: "since", label: "Since", placeholder: "24h or 2025-01-31T12:00Z" },
  { key: "until", label: "Until", placeholder: "" },
] as const;
type AuditFilter = (typeof AUDIT_FILTERS)[number]["key"];
const AUDIT_PAGE = 50;

function AuditTab() {
  const { query } = useLocation();
  const filters = Object.fromEntries(AUDIT_FILTERS.map((f) => [f.key, query.get(f.key) ?? ""])) as Record<AuditFilter, string>;
  const page = query.get("page") ?? "";
  const key = JSON.stringify([filters, page]);
  const audit = useApi(() => {
    const q: Record<string, string> = {};
    for (const [k, v] of Object.entries(filters)) if (v) q[k] = v;
    return api.listAudit({ ...q, limit: AUDIT_PAGE, ...(page ? { pageToken: page } : {}) });
  }, [key]);
  return (
    <section className="panel admin-section" aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      <AuditFilters key={JSON.stringify(filters)} initial={filters} />
      <ErrorNotice error={audit.error} />
      {audit.data === undefined ? (
        audit.error ? null : <Loading what="Loading the audit log" />
      ) : audit.data.records.length === 0 ? (
        <Empty>No audit records match.</Empty>
      ) : (
        <AuditTable records={audit.data.records} />
      )}
      <div className="pager">
        {page ? <Link to={withQuery({ page: undefined })}>Newest</Link> : null}
        {audit.data?.nextPageToken ? <Link to={withQuery({ page: audit.data.nextPageToken })}>Older records</Link> : null}
      </div>
    </section>
  );
}

function AuditFilters({ initial }: { initial: Record<AuditFilter, string> }) {
  const [values, setValues] = useState(initial);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    navigate(withQuery({ ...values, page: undefined }), { replace: false });
  };
  return (
    <form className="admin-form" onSubmit={apply} aria-label="Audit filters">
      {AUDIT_FILTERS.map((f) => (
        <Field key={f.key} label={f.label}>
          {(id) => <input id={id} value={values[f.key]} placeholder={f.placeholder} onChange={(e) => setValues({ ...values, [f.key]: e.target.value })} />}
        </Field>
      ))}
      <button type="submit" className="primary">
        Filter
      </button>
      <Link to="/admin?tab=audit">Clear</Link>
    </form>
  );
}

function AuditTable({ records }: { records: AuditRecord[] }) {
  return (
    <table className="admin-table">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Request</th>
          <th scope="col">Target</th>
          <th scope="col">Team</th>
          <th scope="col">Outcome</th>
          <th scope="col">From</th>
        </tr>
      </thead>
      <tbody>
        {records.map((r) => (
          <tr key={r.id}>
            <td>
              <Time ms={r.time} />
              {r.count > 1 ? <div className="hint">{r.count} requests</div> : null}
            </td>
            <td>
              {r.actor.name ?? "(no valid token)"}
              {r.actor.kind && r.actor.kind !== "user" ? <span className="hint"> {r.actor.kind}</span> : null}
            </td>
            <td className="mono">{r.action}</td>
            <td className="mono">
              {r.method} {r.route}
            </td>
            <td>{r.target ? `${r.target.kind} ${r.target.id}` : "—"}</td>
            <td>{r.team ?? "—"}</td>
            <td>
              <span className={r.outcome.status < 400 ? "pass" : "fail"}>
                {r.outcome.status}
                {r.outcome.errorCode ? ` ${r.outcome.errorCode}` : ""}
              </span>
            </td>
            <td>{r.clientIp ?? "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
