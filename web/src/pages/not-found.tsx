import { PageHeader } from "../components/common.tsx";
import { Link, useLocation } from "../router.tsx";

export default function NotFound() {
  const { path } = useLocation();
  return (
    <>
      <PageHeader title="Not found" />
      <p>
        There is no page at <code>{path}</code>. Go <Link to="/">home</Link>.
      </p>
    </>
  );
}
