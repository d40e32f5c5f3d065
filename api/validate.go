package api

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/openhealthimaging/ohi"
)

// pattern is a compiled model pattern. Smithy patterns are unanchored
// regular expressions; ohi checks them as whole-string matches, which is
// what every pattern of this model means. Two model patterns use syntax the
// RE2 engine lacks (a repeat count over 1000 and a negative lookahead); they
// get equivalent hand-written checks.
type pattern struct {
	src   string
	match func(string) bool
}

func newPattern(src string) *pattern {
	switch src {
	case `\p{ASCII}{0,8192}`:
		return &pattern{src, func(s string) bool {
			if len(s) > 8192 {
				return false
			}
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					return false
				}
			}
			return true
		}}
	}
	if rest, ok := strings.CutPrefix(src, "(?!aws:)"); ok {
		re := regexp.MustCompile(`^(?:` + rest + `)$`)
		return &pattern{src, func(s string) bool { return !strings.HasPrefix(s, "aws:") && re.MatchString(s) }}
	}
	re := regexp.MustCompile(`^(?:` + src + `)$`)
	return &pattern{src, re.MatchString}
}

// validator collects constraint violations in the style of AWS messages:
// "Value 'x' at 'datastoreId' failed to satisfy constraint: Member must ...".
type validator struct {
	errs []string
}

func (v *validator) join(path, name string) string {
	if path == "" {
		return name
	}
	if name == "" {
		return path
	}
	return path + "." + name
}

func (v *validator) index(path string, i int) string {
	return path + "." + strconv.Itoa(i+1) + ".member"
}

func (v *validator) key(path, k string) string {
	return path + ".key(" + quoteValue(k) + ")"
}

func quoteValue(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ReplaceAll(s, "'", `\'`)
}

func (v *validator) add(path, value string, sensitive bool, constraint string) {
	val := "'" + quoteValue(value) + "'"
	if sensitive {
		val = "'***'"
	}
	v.errs = append(v.errs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", val, path, constraint))
}

func (v *validator) missing(path string) {
	v.errs = append(v.errs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", path))
}

func (v *validator) str(path, s string, min, max int64, p *pattern, sensitive bool) {
	n := int64(utf8.RuneCountInString(s))
	if min >= 0 && n < min || max >= 0 && n > max {
		v.add(path, s, sensitive, lengthConstraint(min, max, "length"))
		return
	}
	if p != nil && !p.match(s) {
		v.add(path, s, sensitive, "Member must satisfy regular expression pattern: "+p.src)
	}
}

func lengthConstraint(min, max int64, what string) string {
	switch {
	case min >= 0 && max >= 0:
		return fmt.Sprintf("Member must have %s between %d and %d, inclusive", what, min, max)
	case min >= 0:
		return fmt.Sprintf("Member must have %s greater than or equal to %d", what, min)
	default:
		return fmt.Sprintf("Member must have %s less than or equal to %d", what, max)
	}
}

func (v *validator) length(path string, n int, min, max int64, unit string) {
	if min >= 0 && int64(n) < min || max >= 0 && int64(n) > max {
		what := "length"
		if unit == "items" {
			what = "number of items"
		}
		v.add(path, strconv.Itoa(n)+" "+unit, false, lengthConstraint(min, max, what))
	}
}

func (v *validator) integer(path string, n, min, max int64, hasMin, hasMax bool) {
	if hasMin && n < min {
		v.add(path, strconv.FormatInt(n, 10), false, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	}
	if hasMax && n > max {
		v.add(path, strconv.FormatInt(n, 10), false, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

func (v *validator) enum(path, s string, allowed []string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(path, s, false, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
}

func (v *validator) union(path string, set ...bool) {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	if n != 1 {
		v.errs = append(v.errs, fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member must have exactly one member set (%d set)", path, n))
	}
}

func enumStrings[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// validatable is implemented by every generated structure.
type validatable interface {
	validate(v *validator, path string)
}

// validateInput checks every constraint of the model on in and returns a
// *ohi.ValidationError whose Reason lists the violations the AWS way.
func validateInput(in validatable) error {
	var v validator
	in.validate(&v, "")
	return v.err()
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	plural := "error"
	if len(v.errs) > 1 {
		plural = "errors"
	}
	return &ohi.ValidationError{Reason: fmt.Sprintf("%d validation %s detected: %s", len(v.errs), plural, strings.Join(v.errs, "; "))}
}

// Validate checks every constraint of the model on a generated structure
// (for example a request built by a test or a client). It returns nil or a
// *ohi.ValidationError.
func Validate(in any) error {
	vi, ok := in.(validatable)
	if !ok {
		return fmt.Errorf("api: %T is not a model structure", in)
	}
	return validateInput(vi)
}
