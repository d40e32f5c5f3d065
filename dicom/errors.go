package dicom

import "fmt"

// Error codes carried by FileError.Code.
const (
	CodeNotDICOM            = "NotDICOM"            // no "DICM" prefix after the 128-byte preamble
	CodeTruncated           = "Truncated"           // the file ends inside an element or the pixel data
	CodeMissingAttribute    = "MissingAttribute"    // a required attribute is absent or empty
	CodeOversized           = "Oversized"           // a value or the metadata exceeds the Options budgets
	CodeConstraintViolation = "ConstraintViolation" // an AHI element length or value constraint is violated
	CodeUnsupported         = "Unsupported"         // unknown transfer syntax or pixel layout we cannot frame
	CodeMalformed           = "Malformed"           // any other structural error
)

// FileError reports why a file cannot be imported. Code is short and machine
// readable (one of the Code constants); Reason is a sentence for people.
type FileError struct {
	Code   string
	Reason string
}

func (e *FileError) Error() string { return e.Reason }

func errorf(code, format string, args ...any) *FileError {
	return &FileError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Warning is a non-fatal problem found while reading a file, for example an
// invalid offset table that was ignored. Codes follow AHI's warning types
// where one exists (InvalidOffsetTable).
type Warning struct {
	Code    string
	Message string
}

// Options bound the work done on one file. Zero fields take the defaults.
type Options struct {
	// MaxElementBytes is the largest non-pixel element value accepted
	// (default 64 MiB).
	MaxElementBytes int64
	// MaxMetadataBytes is the budget for all non-pixel values together,
	// counting a fixed overhead per element (default 256 MiB).
	MaxMetadataBytes int64
	// MaxInflatedBytes bounds the inflated data set of a Deflated Explicit
	// VR Little Endian file (default 4 GiB).
	MaxInflatedBytes int64
	// MaxFragments bounds the number of encapsulated pixel data fragments
	// (default 1,000,000).
	MaxFragments int
	// TempDir is where inflated data sets larger than 32 MiB are spilled
	// (default os.TempDir()).
	TempDir string
}

// Defaults for the zero fields of Options.
const (
	DefaultMaxElementBytes  = 64 << 20
	DefaultMaxMetadataBytes = 256 << 20
	DefaultMaxInflatedBytes = 4 << 30
	DefaultMaxFragments     = 1_000_000

	// elementOverhead is charged to the metadata budget for every element,
	// so that files made of millions of empty elements are bounded too.
	elementOverhead = 96
	// maxDepth bounds sequence nesting.
	maxDepth = 32
)

var (
	// inMemoryInflate is the inflated size kept in memory before spilling
	// to a temporary file (a variable for tests).
	inMemoryInflate int64 = 32 << 20
	// recoverPanics turns panics into FileErrors; the fuzz test disables it
	// so that panics surface.
	recoverPanics = true
)

func (o Options) withDefaults() Options {
	if o.MaxElementBytes <= 0 {
		o.MaxElementBytes = DefaultMaxElementBytes
	}
	if o.MaxMetadataBytes <= 0 {
		o.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	if o.MaxInflatedBytes <= 0 {
		o.MaxInflatedBytes = DefaultMaxInflatedBytes
	}
	if o.MaxFragments <= 0 {
		o.MaxFragments = DefaultMaxFragments
	}
	return o
}
