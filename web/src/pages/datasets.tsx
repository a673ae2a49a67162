import { PageHeader } from "../components/common.tsx";
import type { PageProps } from "../routes.tsx";

// Not built yet: this page is a placeholder until its part of issue 11 lands.
export default function Page(_props: PageProps) {
  return (
    <>
      <PageHeader title="datasets" />
      <p className="empty">This page is not built yet.</p>
    </>
  );
}
