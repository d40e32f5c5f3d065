package runner_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// memTransport answers every request in memory with a small JSON body.
type memTransport struct{}

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	body := `{"jobProperties":{"jobStatus":"COMPLETED","jobId":"j1"},"items":[{"id":"a"},{"id":"b"}]}`
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r,
	}, nil
}

// BenchmarkStepOverhead measures the engine's cost per step, without
// network: parameter and body building, criteria (simple and jsonpath),
// outputs and action selection. ns/step is the figure to compare.
func BenchmarkStepOverhead(b *testing.B) {
	path := writeDocs(b, docHead+`workflows:
- workflowId: w
  inputs: {type: object, properties: {id: {type: string}}}
  steps:
  - stepId: create
    operationId: createItem
    requestBody: {payload: {name: $inputs.id, tags: [a, b]}}
    successCriteria: [{condition: $statusCode == 200}]
    outputs: {jobId: $response.body#/jobProperties/jobId}
  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: $steps.create.outputs.jobId}
    - {name: X-Trace, in: header, value: 'run-{$inputs.id}'}
    successCriteria: [{condition: $statusCode == 200 && $response.body#/jobProperties/jobStatus == 'completed'}]
    outputs: {status: $response.body#/jobProperties/jobStatus}
    onSuccess:
    - name: done
      type: goto
      stepId: last
      criteria: [{context: $response.body, type: jsonpath, condition: $.jobProperties.jobStatus == "COMPLETED"}]
  - stepId: last
    operationId: other
    successCriteria: [{context: $response.body, type: jsonpath, condition: '$.items[?@.id == "b"]'}]
  outputs: {status: $steps.get.outputs.status}
`, nil)
	bundle, err := (&arazzo.Fetcher{}).LoadBundle(b.Context(), path, map[string]string{"api": "http://127.0.0.1:1/v1"})
	if err != nil {
		b.Fatal(err)
	}
	r := runner.New(bundle, runner.Options{Client: &http.Client{Transport: memTransport{}}, PollInterval: time.Millisecond})
	in := map[string]any{"id": "x1"}
	b.ReportAllocs()
	b.ResetTimer()
	steps := 0
	for b.Loop() {
		res, err := r.Run(b.Context(), "w", in)
		if err != nil || res.Status != runner.StatusSucceeded {
			b.Fatalf("%v %+v", err, res)
		}
		steps += len(res.Steps)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
}
