package sigv4

import (
	"strings"
	"testing"
)

const exampleSig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"

func TestParseAuthorization(t *testing.T) {
	good := []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request,SignedHeaders=host,Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Signature=" + exampleSig + ",  Credential=AKID/20240101/us-east-1/s3/aws4_request ,SignedHeaders=host",
	}
	for _, h := range good {
		a, err := parseAuthorization(h)
		if err != nil {
			t.Errorf("%q: %v", h, err)
			continue
		}
		if a.Credential.AccessKeyID != "AKID" || a.Signature != exampleSig || a.SignedHeaders[len(a.SignedHeaders)-1] == "" {
			t.Errorf("%q parsed as %+v", h, a)
		}
	}
	bad := []string{
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 ",
		"AWS4-ECDSA-P256-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host, Signature=abc",
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/aws4_request, SignedHeaders=host, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID//us-east-1/medical-imaging/aws4_request, SignedHeaders=host, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=Host, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host;;x-amz-date, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host, Signature=" + exampleSig + ", Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host, Signature=" + exampleSig + ", Extra=1",
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request,, SignedHeaders=host, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=host, Signature=" + strings.ToUpper(exampleSig),
		"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=" + strings.Repeat("a;", 64) + "host, Signature=" + exampleSig,
	}
	for _, h := range bad {
		if a, err := parseAuthorization(h); err == nil {
			t.Errorf("%q parsed as %+v, want error", h, a)
		} else if err.Code != CodeIncompleteSignature || err.Status != 403 {
			t.Errorf("%q: error %+v", h, err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + exampleSig)
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/medical-imaging/aws4_request,SignedHeaders=host,Signature=" + exampleSig)
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=")
	f.Add("AWS4-HMAC-SHA256 Credential=, , ,=")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if err.Code != CodeIncompleteSignature || err.Status != 403 || len(err.Message) > 3*maxEchoLen+1024 {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if !strings.HasPrefix(h, algorithm+" ") || !isLowerHex(a.Signature, 64) || len(a.SignedHeaders) == 0 {
			t.Fatalf("%q accepted as %+v", h, a)
		}
		c := a.Credential
		for _, p := range []string{c.AccessKeyID, c.Date, c.Region, c.Service, c.Terminator} {
			if p == "" || strings.Contains(p, "/") {
				t.Fatalf("%q: bad credential part in %+v", h, c)
			}
		}
		// The canonical rendering must parse back to the same value.
		canon := algorithm + " Credential=" + c.AccessKeyID + "/" + c.scope() +
			", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
		b, err := parseAuthorization(canon)
		if err != nil {
			t.Fatalf("%q re-rendered as %q: %v", h, canon, err)
		}
		if b.Credential != a.Credential || b.Signature != a.Signature || strings.Join(b.SignedHeaders, ";") != strings.Join(a.SignedHeaders, ";") {
			t.Fatalf("round trip %+v != %+v", b, a)
		}
	})
}
