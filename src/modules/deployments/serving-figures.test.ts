import { describe, expect, it } from "vitest";
import { servingFigures } from "./serving-figures.ts";

// Prometheus text as serving's registry writes it (src/modules/serving/metrics.ts): one version with
// errors of two codes, another model whose label carries an escaped quote, and another environment.
const TEXT = `# HELP paved_serving_requests_total Inference requests
# TYPE paved_serving_requests_total counter
paved_serving_requests_total{model="churn",version="1",environment="production"} 90
paved_serving_requests_total{model="churn",version="2",environment="production"} 10
paved_serving_requests_total{model="churn",version="2",environment="staging"} 50
paved_serving_requests_total{model="ch\\"urn",version="1",environment="production"} 7
paved_serving_request_errors_total{model="churn",version="2",environment="production",code="INVALID_INPUT"} 3
paved_serving_request_errors_total{model="churn",version="2",environment="production",code="UNAVAILABLE"} 1
paved_serving_request_duration_seconds_bucket{le="0.005",model="churn",version="1",environment="production"} 80
paved_serving_request_duration_seconds_bucket{le="0.01",model="churn",version="1",environment="production"} 90
paved_serving_request_duration_seconds_bucket{le="+Inf",model="churn",version="1",environment="production"} 90
paved_serving_request_duration_seconds_sum{model="churn",version="1",environment="production"} 0.36
paved_serving_request_duration_seconds_count{model="churn",version="1",environment="production"} 90
`;

describe("a deployment's serving figures", () => {
  it("sums each version's series in the environment: requests, errors, mean and p99 latency", () => {
    expect(servingFigures(TEXT, "churn", "production")).toEqual([
      // p99: rank 89.1 of 90 lies in (0.005, 0.01], 9.1 of its 10 requests in: 0.005 + 0.005 × 0.91.
      { version: "1", requests: 90, errors: 0, errorRate: 0, meanMs: 4, p99Ms: expect.closeTo(9.55, 6) },
      { version: "2", requests: 10, errors: 4, errorRate: 0.4, meanMs: null, p99Ms: null },
    ]);
  });

  it("keeps environments and models apart, escaped labels included", () => {
    expect(servingFigures(TEXT, "churn", "staging")).toMatchObject([{ version: "2", requests: 50 }]);
    expect(servingFigures(TEXT, 'ch"urn', "production")).toMatchObject([{ version: "1", requests: 7 }]);
    expect(servingFigures(TEXT, "unknown", "production")).toEqual([]);
  });
});
