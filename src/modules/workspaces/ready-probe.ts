import { writeFileSync } from "node:fs";
import { jupyterRequest, type WorkspaceFolders } from "./jupyter.ts";
import { KernelClient } from "./kernel-client.ts";

/** Where a workspace's server is reached (its row's socket and Jupyter token). */
export interface ServerAddress {
  workspaceId: string;
  socketPath: string;
  token: string;
}

/**
 * Whether the workspace's server answers and a kernel answers a kernel_info_request over its
 * websocket: `kernelId`'s (a warm pool's spare), or a new one's. A new kernel is shut down after
 * (without waiting for it to go), unless `keepAs` names the file that makes it the server's spare kernel (a warm pool's server).
 */
export async function probeKernel(server: ServerAddress, opts: { kernelId?: string; keepAs?: Pick<WorkspaceFolders, "spareKernelFile"> } = {}): Promise<boolean> {
  const base = `/workspaces/${server.workspaceId}/`;
  const { socketPath, token } = server;
  let kernelId = opts.kernelId;
  const fresh = kernelId === undefined;
  if (fresh) {
    const status = await jupyterRequest(socketPath, token, "GET", `${base}api/status`, undefined, 2000);
    if (status.status !== 200) return false;
    const started = await jupyterRequest(socketPath, token, "POST", `${base}api/kernels`, {}, 30_000);
    if (started.status !== 201) return false;
    kernelId = (JSON.parse(started.body) as { id: string }).id;
  }
  let answered = false;
  try {
    const kernel = await KernelClient.open({ socketPath }, base, kernelId!, { host: "localhost", authorization: `token ${token}` });
    try {
      await kernel.info(60_000);
      answered = true;
    } finally {
      kernel.close();
    }
    return true;
  } finally {
    if (fresh && answered && opts.keepAs) writeFileSync(opts.keepAs.spareKernelFile, kernelId!, { mode: 0o600 });
    // Not awaited: Jupyter's shutdown of a kernel (a shutdown request, then waiting for it to exit)
    // takes about 400 ms, which is no part of the server being ready.
    else if (fresh) void jupyterRequest(socketPath, token, "DELETE", `${base}api/kernels/${kernelId}`).catch(() => undefined);
  }
}
