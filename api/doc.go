// Package api is the AWS HealthImaging wire contract (service
// "medical-imaging", API version 2023-07-19, protocol rest-json), generated
// from the botocore service model by internal/apigen.
//
// zz_generated.go holds every operation's route, request and response
// shapes with their HTTP bindings (path, query string, header, payload), and
// every length, range, pattern, enum, union and required constraint of the
// model. The hand-written files hold the runtime those tables drive: request
// binding and validation (bind.go, validate.go), response and error encoding
// (encode.go, errors.go), epoch-second timestamps (time.go) and the HTTP
// handler that routes requests to a Service (handler.go).
//
// Routing ignores the Host header: clients prepend "runtime-" to the host of
// data-plane operations, and one listener serves both planes.
package api

//go:generate go run ../internal/apigen -model ../../shared/healthimaging/medical-imaging-service-2.json -out zz_generated.go -openapi openapi.json
