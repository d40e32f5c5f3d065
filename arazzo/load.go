package arazzo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi/arazzo/expr"
	"go.yaml.in/yaml/v3"
)

// MaxDocumentSize bounds the size of an Arazzo or OpenAPI document read by
// a [Fetcher] with no explicit limit.
const MaxDocumentSize = 32 << 20

// ParseError is a document that is not well-formed YAML or JSON, or whose
// values have the wrong types for the Arazzo model.
type ParseError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrRefused is a document location the [Fetcher]'s access rule does not
// allow.
var ErrRefused = errors.New("refused")

// Fetcher reads documents from local files and http(s) URLs, under an
// access rule, since documents are untrusted and name further documents:
//
//   - http(s) URLs are read only when AllowRemote is set or the first
//     document (the root of [Fetcher.LoadBundle], the document of
//     [Fetcher.Load], else the first one [Fetcher.Read] read) was itself an http(s) URL (the user asked
//     for a remote document, and its references are remote too);
//   - local files are read only under Dir, or, when Dir is empty, under the
//     parent of the first document's directory, or under the working
//     directory when that document lies there (so "../openapi/api.yaml"
//     from a project's flows/ directory works, "../../etc/passwd" does not);
//     a remote first document allows no local files at all unless Dir is
//     set.
//
// The rule is checked on cleaned absolute paths; symbolic links are
// followed as the user laid them out.
type Fetcher struct {
	// Client is used for http(s) URLs; nil means a client with a 30s
	// timeout.
	Client *http.Client
	// MaxBytes bounds a document's size; 0 means MaxDocumentSize.
	MaxBytes int64
	// AllowRemote permits http(s) URLs whatever the first document was.
	AllowRemote bool
	// Dir is the directory tree local files must lie in; empty means the
	// rule above.
	Dir string

	mu        sync.Mutex
	bundle    bool              // a bundle's Fetcher: cache and budget
	cache     map[string][]byte // by location, for a bundle's Fetcher
	total     int64             // bytes in cache
	started   bool              // the first document has been read
	remote    bool              // the first document was an http(s) URL
	localDirs []string          // the trees local files may lie in
}

// scoped returns a Fetcher like f whose access rule is that of a first
// document at location: each bundle gets its own rule.
func (f *Fetcher) scoped(location string) *Fetcher {
	g := &Fetcher{Client: f.Client, MaxBytes: f.MaxBytes, AllowRemote: f.AllowRemote, Dir: f.Dir,
		bundle: true, cache: map[string][]byte{}}
	if strings.HasPrefix(location, "file://") {
		if u, err := url.Parse(location); err == nil {
			location = u.Path
		}
	}
	_ = g.allow(location)
	return g
}

// allow applies the access rule to location (a URL or a local path), and
// records the first document.
func (f *Fetcher) allow(location string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := !f.started
	if first {
		f.started = true
		f.remote = isHTTP(location)
		if f.Dir != "" {
			if abs, err := filepath.Abs(f.Dir); err == nil {
				f.localDirs = []string{abs}
			}
		} else if !f.remote {
			if abs, err := filepath.Abs(location); err == nil {
				f.localDirs = []string{filepath.Dir(filepath.Dir(abs))}
				if wd, err := os.Getwd(); err == nil && within(wd, abs) {
					f.localDirs = append(f.localDirs, wd)
				}
			}
		}
	}
	if isHTTP(location) {
		if f.AllowRemote || f.remote {
			return nil
		}
		return fmt.Errorf("%s: %w: remote documents are fetched only when allowed (ohi workflow --allow-remote)", location, ErrRefused)
	}
	abs, err := filepath.Abs(location)
	if err != nil {
		return err
	}
	for _, d := range f.localDirs {
		if within(d, abs) {
			return nil
		}
	}
	if f.remote && f.Dir == "" {
		return fmt.Errorf("%s: %w: a remote document may not name local files", location, ErrRefused)
	}
	return fmt.Errorf("%s: %w: outside %s", location, ErrRefused, strings.Join(f.localDirs, " and "))
}

// within reports whether path p (absolute, cleaned) lies in directory dir.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Read returns the bytes at location, a file path, a file:// URL or an
// http(s) URL.
func (f *Fetcher) Read(ctx context.Context, location string) ([]byte, error) {
	if !f.bundle {
		return f.read(ctx, location)
	}
	// A bundle's Fetcher reads each location once (a degraded OpenAPI
	// description is loaded once per path item, with its external
	// $refs), within a budget of documents and bytes.
	f.mu.Lock()
	b, ok := f.cache[location]
	n, total := len(f.cache), f.total
	f.mu.Unlock()
	if ok {
		return b, nil
	}
	if n >= MaxBundleDocuments {
		return nil, fmt.Errorf("%s: more than %d documents in one bundle", location, MaxBundleDocuments)
	}
	b, err := f.read(ctx, location)
	if err != nil {
		return nil, err
	}
	if total+int64(len(b)) > MaxBundleBytes {
		return nil, fmt.Errorf("%s: the documents of one bundle exceed %d bytes", location, int64(MaxBundleBytes))
	}
	f.mu.Lock()
	f.cache[location] = b
	f.total += int64(len(b))
	f.mu.Unlock()
	return b, nil
}

// Bounds of the documents one bundle (an Arazzo document with all it
// names, recursively) reads.
const (
	MaxBundleDocuments = 1000
	MaxBundleBytes     = 256 << 20
)

func (f *Fetcher) read(ctx context.Context, location string) ([]byte, error) {
	limit := f.MaxBytes
	if limit <= 0 {
		limit = MaxDocumentSize
	}
	p := location
	if strings.HasPrefix(p, "file://") {
		u, err := url.Parse(p)
		if err != nil {
			return nil, err
		}
		p = u.Path
	}
	if err := f.allow(p); err != nil {
		return nil, err
	}
	if isHTTP(location) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, err
		}
		c := f.Client
		if c == nil {
			c = &http.Client{Timeout: 30 * time.Second}
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", location, resp.Status)
		}
		return readLimited(resp.Body, limit, location)
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return readLimited(fh, limit, location)
}

func readLimited(r io.Reader, limit int64, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: document larger than %d bytes", name, limit)
	}
	return b, nil
}

func isHTTP(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// ResolveReference resolves ref (a URL or path, possibly relative) against
// the location of the referring document.
// A reference from a remote document is always resolved as a URL: it
// cannot name a local file.
func ResolveReference(base, ref string) (string, error) {
	if isHTTP(ref) {
		return ref, nil
	}
	if isHTTP(base) {
		b, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		r, err := url.Parse(ref)
		if err != nil {
			return "", err
		}
		out := b.ResolveReference(r)
		if !isHTTP(out.String()) {
			return "", fmt.Errorf("%s: %w: a remote document may not name local files", ref, ErrRefused)
		}
		return out.String(), nil
	}
	if filepath.IsAbs(ref) {
		return ref, nil
	}
	if strings.HasPrefix(ref, "file://") {
		u, err := url.Parse(ref)
		if err != nil {
			return "", err
		}
		return u.Path, nil
	}
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return "", fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	}
	return filepath.Join(filepath.Dir(base), filepath.FromSlash(ref)), nil
}

// Load reads and parses an Arazzo document.
func (f *Fetcher) Load(ctx context.Context, location string) (*Document, error) {
	g := f
	if !f.bundle {
		g = f.scoped(location)
	}
	b, err := g.Read(ctx, location)
	if err != nil {
		return nil, err
	}
	return Parse(b, location)
}

// Parse parses an Arazzo document (YAML or JSON) read from location.
func Parse(data []byte, location string) (*Document, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ParseError{File: location, Msg: "empty document"}
		}
		return nil, yamlError(location, err)
	}
	KeepTimestampsAsText(&root)
	d := &Document{URL: location, Root: &root}
	var raw any
	if err := root.Decode(&raw); err != nil {
		return nil, yamlError(location, err)
	}
	d.Raw = expr.Normalize(raw)
	if _, ok := d.Raw.(map[string]any); !ok {
		return nil, &ParseError{File: location, Line: 1, Col: 1, Msg: "document must be an object"}
	}
	if err := root.Decode(d); err != nil {
		return nil, yamlError(location, err)
	}
	normalizeValues(d)
	return d, nil
}

// KeepTimestampsAsText makes the unquoted YAML timestamps of a tree
// (ticketDate: 2023-09-07) strings of their text, as JSON and other
// runners read them, rather than dates that would be sent re-formatted.
func KeepTimestampsAsText(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && n.Style&yaml.TaggedStyle == 0 && n.ShortTag() == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		KeepTimestampsAsText(c)
	}
}

func yamlError(file string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.Join(te.Errors, "; ")
		line = 0
		fmt.Sscanf(te.Errors[0], "line %d:", &line)
	}
	return &ParseError{File: file, Line: line, Col: 1, Msg: msg}
}

// normalizeValues converts YAML-typed literal values to the JSON data model.
func normalizeValues(d *Document) {
	fix := func(ps []Parameter) {
		for i := range ps {
			ps[i].Value = expr.Normalize(ps[i].Value)
		}
	}
	for k, p := range d.Components.Parameters {
		p.Value = expr.Normalize(p.Value)
		d.Components.Parameters[k] = p
	}
	for k, v := range d.Components.Inputs {
		d.Components.Inputs[k] = expr.Normalize(v)
	}
	for wi := range d.Workflows {
		w := &d.Workflows[wi]
		w.Inputs = expr.Normalize(w.Inputs)
		fix(w.Parameters)
		for si := range w.Steps {
			s := &w.Steps[si]
			fix(s.Parameters)
			if s.RequestBody != nil {
				s.RequestBody.Payload = expr.Normalize(s.RequestBody.Payload)
				for ri := range s.RequestBody.Replacements {
					s.RequestBody.Replacements[ri].Value = expr.Normalize(s.RequestBody.Replacements[ri].Value)
				}
			}
		}
	}
}

// ValidateFile loads the Arazzo document at location with its source
// descriptions and validates it. It returns an error only when the
// document itself cannot be read or parsed; a source that cannot be
// loaded is reported as a diagnostic and the references into it are not
// checked.
func (f *Fetcher) ValidateFile(ctx context.Context, location string, opts ValidateOptions) ([]Diagnostic, error) {
	b, err := f.LoadBundlePartial(ctx, location)
	if err != nil {
		return nil, err
	}
	return ValidateWith(b.Root, b, opts), nil
}
