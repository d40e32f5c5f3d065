package runner

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/openhealthimaging/ohi/arazzo"
)

// Authenticator applies credentials to a request before it is sent. body is
// the exact request body. It returns the names of query parameters that
// carry secrets (to redact them from logs).
type Authenticator interface {
	Authenticate(ctx context.Context, req *http.Request, body []byte, op *arazzo.Operation) (redactQuery []string, err error)
}

// EnvAuth applies the OpenAPI security requirements of an operation
// (operation level, else document level) with credentials from the
// environment:
//
//   - an apiKey scheme with x-amazon-apigateway-authtype: awsSigv4 signs the
//     request with AWS Signature Version 4, using the standard AWS
//     credential and region chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//     AWS_SESSION_TOKEN, AWS_REGION, AWS_PROFILE, shared config files, ...)
//     and the signing name from info.x-aws-signingName (else
//     info.x-serviceName);
//   - http bearer, http basic, apiKey, oauth2 and openIdConnect schemes
//     read OHI_AUTH_<SCHEME>, where <SCHEME> is the security scheme's name
//     upper-cased with every character outside [A-Z0-9] replaced by '_':
//     the bearer token, the "user:password" pair, the API key, or an
//     OAuth 2 access token (sent as a bearer token).
//
// The first security requirement whose schemes all have credentials is
// applied; when none has, the request is sent without credentials.
type EnvAuth struct {
	getenv func(string) string

	once   sync.Once
	awsCfg aws.Config
	awsErr error
	// LoadAWSConfig loads the AWS configuration; nil means
	// config.LoadDefaultConfig.
	LoadAWSConfig func(ctx context.Context) (aws.Config, error)
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
}

// NewEnvAuth returns an EnvAuth reading variables with getenv (os.Getenv
// when nil).
func NewEnvAuth(getenv func(string) string) *EnvAuth {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &EnvAuth{getenv: getenv}
}

// EnvName returns the environment variable that holds the credential for
// the security scheme named scheme.
func EnvName(scheme string) string {
	var b strings.Builder
	b.WriteString("OHI_AUTH_")
	for _, c := range strings.ToUpper(scheme) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// IsSigV4 reports whether a security scheme is AWS SigV4 (API Gateway's
// x-amazon-apigateway-authtype extension).
func IsSigV4(s *openapi3.SecurityScheme) bool {
	v, _ := s.Extensions["x-amazon-apigateway-authtype"].(string)
	return strings.EqualFold(v, "awsSigv4")
}

type applier func(ctx context.Context, req *http.Request, body []byte) ([]string, error)

// Authenticate implements Authenticator.
func (a *EnvAuth) Authenticate(ctx context.Context, req *http.Request, body []byte, op *arazzo.Operation) ([]string, error) {
	doc := op.Source.Doc
	reqs := doc.Security
	if op.Op.Security != nil {
		reqs = *op.Op.Security
	}
	var schemes openapi3.SecuritySchemes
	if doc.Components != nil {
		schemes = doc.Components.SecuritySchemes
	}
	var lastErr error
	for _, r := range reqs {
		names := make([]string, 0, len(r))
		for n := range r {
			names = append(names, n)
		}
		sort.Strings(names)
		var apply []applier
		var sig applier
		ok := true
		for _, n := range names {
			ref := schemes[n]
			if ref == nil || ref.Value == nil {
				ok = false
				break
			}
			f, isSig, err := a.scheme(ctx, n, ref.Value, op)
			if err != nil {
				lastErr = err
			}
			if f == nil {
				ok = false
				break
			}
			if isSig {
				sig = f
			} else {
				apply = append(apply, f)
			}
		}
		if !ok {
			continue
		}
		var redact []string
		// Plain credentials first, the signature last so it covers them.
		for _, f := range append(apply, sig) {
			if f == nil {
				continue
			}
			rq, err := f(ctx, req, body)
			if err != nil {
				return nil, err
			}
			redact = append(redact, rq...)
		}
		return redact, nil
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, nil
}

// scheme returns how to apply one security scheme, or nil when no
// credentials are configured for it. A SigV4 scheme whose AWS
// configuration cannot be loaded returns an error.
func (a *EnvAuth) scheme(ctx context.Context, name string, s *openapi3.SecurityScheme, op *arazzo.Operation) (applier, bool, error) {
	if IsSigV4(s) {
		service := signingName(op.Source.Doc)
		if service == "" {
			return nil, true, fmt.Errorf("source %s declares SigV4 but has no info.x-aws-signingName", op.Source.Name)
		}
		cfg, err := a.aws(ctx)
		if err != nil {
			return nil, true, fmt.Errorf("AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			return nil, true, errors.New("SigV4: no AWS region (set AWS_REGION)")
		}
		return func(ctx context.Context, req *http.Request, body []byte) ([]string, error) {
			creds, err := cfg.Credentials.Retrieve(ctx)
			if err != nil {
				return nil, fmt.Errorf("AWS credentials: %w", err)
			}
			sum := sha256.Sum256(body)
			now := time.Now
			if a.Now != nil {
				now = a.Now
			}
			if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, cfg.Region, now().UTC()); err != nil {
				return nil, fmt.Errorf("SigV4: %w", err)
			}
			return nil, nil
		}, true, nil
	}
	secret := a.getenv(EnvName(name))
	if secret == "" {
		return nil, false, nil
	}
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		return func(_ context.Context, req *http.Request, _ []byte) ([]string, error) {
			req.Header.Set("Authorization", "Bearer "+secret)
			return nil, nil
		}, false, nil
	case s.Type == "http" && strings.EqualFold(s.Scheme, "basic"):
		return func(_ context.Context, req *http.Request, _ []byte) ([]string, error) {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(secret)))
			return nil, nil
		}, false, nil
	case s.Type == "oauth2" || s.Type == "openIdConnect":
		// An access token obtained beforehand, sent as a bearer token.
		return func(_ context.Context, req *http.Request, _ []byte) ([]string, error) {
			req.Header.Set("Authorization", "Bearer "+secret)
			return nil, nil
		}, false, nil
	case s.Type == "apiKey":
		return func(_ context.Context, req *http.Request, _ []byte) ([]string, error) {
			switch s.In {
			case "header":
				req.Header.Set(s.Name, secret)
			case "query":
				q := req.URL.Query()
				q.Set(s.Name, secret)
				req.URL.RawQuery = q.Encode()
				return []string{s.Name}, nil
			case "cookie":
				req.AddCookie(&http.Cookie{Name: s.Name, Value: secret})
			default:
				return nil, fmt.Errorf("apiKey scheme %s: unsupported location %q", name, s.In)
			}
			return nil, nil
		}, false, nil
	}
	return nil, false, nil
}

func (a *EnvAuth) aws(ctx context.Context) (aws.Config, error) {
	a.once.Do(func() {
		load := a.LoadAWSConfig
		if load == nil {
			load = func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) }
		}
		a.awsCfg, a.awsErr = load(ctx)
	})
	return a.awsCfg, a.awsErr
}

func signingName(doc *openapi3.T) string {
	if doc.Info == nil {
		return ""
	}
	for _, k := range []string{"x-aws-signingName", "x-serviceName"} {
		if s, ok := doc.Info.Extensions[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
