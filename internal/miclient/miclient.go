// Package miclient builds AWS HealthImaging clients (aws-sdk-go-v2
// medicalimaging) for a local ohi endpoint, as tests, benchmarks and tools
// of this repository use them: the "runtime-" host prefix turned off, static
// credentials, and a transport that works around an SDK race on loopback.
package miclient

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// DisableHostPrefix stops the SDK from sending data-plane calls to
// runtime-<host>, which does not resolve for a local endpoint. Add it to
// Options.APIOptions (or aws.Config.APIOptions).
func DisableHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("DisableEndpointHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

// PrivateBodyTransport sends a private copy of each request body. The SDK
// closes request bodies as soon as the response headers arrive; on loopback
// the server can answer before net/http's write loop is done with the body,
// and the loop then closes the connection under the response being read
// ("use of closed network connection" on streamed frames,
// aws/aws-sdk-go-v2#2737). A body the SDK cannot close avoids the race.
type PrivateBodyTransport struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t PrivateBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.Base.RoundTrip(r)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return t.Base.RoundTrip(r2)
}

// HTTPClient is an HTTP client with PrivateBodyTransport.
var HTTPClient = &http.Client{Transport: PrivateBodyTransport{Base: http.DefaultTransport.(*http.Transport).Clone()}}

// New returns a client for endpoint signing with the given key pair in
// us-east-1, without retries (so tests see every failure).
func New(endpoint, accessKeyID, secret string) *mi.Client {
	return mi.New(mi.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
		APIOptions:   []func(*middleware.Stack) error{DisableHostPrefix},
		Retryer:      aws.NopRetryer{},
		HTTPClient:   HTTPClient,
	})
}
