package dicom

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Character repertoires of Specific Character Set (0008,0005), PS3.3
// C.12.1.1.2. A nil encoding means ASCII (decoded as UTF-8 passthrough).
var charsetTerms = map[string]encoding.Encoding{
	"": nil, "ISO_IR 6": nil, "ISO 2022 IR 6": nil,
	"ISO_IR 100": charmap.ISO8859_1, "ISO 2022 IR 100": charmap.ISO8859_1,
	"ISO_IR 101": charmap.ISO8859_2, "ISO 2022 IR 101": charmap.ISO8859_2,
	"ISO_IR 109": charmap.ISO8859_3, "ISO 2022 IR 109": charmap.ISO8859_3,
	"ISO_IR 110": charmap.ISO8859_4, "ISO 2022 IR 110": charmap.ISO8859_4,
	"ISO_IR 144": charmap.ISO8859_5, "ISO 2022 IR 144": charmap.ISO8859_5,
	"ISO_IR 127": charmap.ISO8859_6, "ISO 2022 IR 127": charmap.ISO8859_6,
	"ISO_IR 126": charmap.ISO8859_7, "ISO 2022 IR 126": charmap.ISO8859_7,
	"ISO_IR 138": charmap.ISO8859_8, "ISO 2022 IR 138": charmap.ISO8859_8,
	"ISO_IR 148": charmap.ISO8859_9, "ISO 2022 IR 148": charmap.ISO8859_9,
	"ISO_IR 203": charmap.ISO8859_15, "ISO 2022 IR 203": charmap.ISO8859_15,
	"ISO_IR 166": charmap.Windows874, "ISO 2022 IR 166": charmap.Windows874,
	"ISO_IR 13": japanese.ShiftJIS, "ISO 2022 IR 13": japanese.ShiftJIS,
	"ISO 2022 IR 87":  japanese.ISO2022JP,
	"ISO 2022 IR 159": japanese.ISO2022JP,
	"ISO 2022 IR 149": korean.EUCKR,
	"ISO 2022 IR 58":  simplifiedchinese.GBK,
	"ISO_IR 192":      encodingUTF8,
	"GB18030":         simplifiedchinese.GB18030,
	"GBK":             simplifiedchinese.GBK,
}

// encodingUTF8 marks UTF-8 text (kept as is when valid).
var encodingUTF8 = encoding.Nop

// escapes maps ISO 2022 escape sequences (without ESC) to the repertoire
// they switch to. jis marks the ones the ISO-2022-JP decoder must see.
var escapes = []struct {
	seq string
	enc encoding.Encoding
	jis bool
}{
	{"$(D", japanese.ISO2022JP, true}, // JIS X 0212
	{"$B", japanese.ISO2022JP, true},  // JIS X 0208
	{"$@", japanese.ISO2022JP, true},
	{"$)C", korean.EUCKR, false},          // KS X 1001 in G1
	{"$)A", simplifiedchinese.GBK, false}, // GB 2312 in G1
	{"(B", nil, false},                    // ASCII
	{"(J", nil, false},                    // JIS X 0201 Romaji
	{")I", japanese.ShiftJIS, false},      // JIS X 0201 Katakana
	{"-A", charmap.ISO8859_1, false},
	{"-B", charmap.ISO8859_2, false},
	{"-C", charmap.ISO8859_3, false},
	{"-D", charmap.ISO8859_4, false},
	{"-L", charmap.ISO8859_5, false},
	{"-G", charmap.ISO8859_6, false},
	{"-F", charmap.ISO8859_7, false},
	{"-H", charmap.ISO8859_8, false},
	{"-M", charmap.ISO8859_9, false},
	{"-b", charmap.ISO8859_15, false},
	{"-T", charmap.Windows874, false},
}

// textDecoder turns raw text values into UTF-8 according to the Specific
// Character Set in effect.
type textDecoder struct {
	def     encoding.Encoding
	unknown bool // the character set was not recognized
}

// newTextDecoder parses a Specific Character Set value. Unknown terms are
// reported (ok false) and decoding falls back to UTF-8/ISO 8859-1.
func newTextDecoder(raw []byte) (*textDecoder, bool) {
	terms := strings.Split(string(raw), `\`)
	d := &textDecoder{}
	for i, t := range terms {
		t = strings.TrimSpace(strings.TrimRight(t, "\x00"))
		enc, ok := charsetTerms[t]
		if !ok {
			d.unknown = true
			continue
		}
		if i == 0 {
			d.def = enc
		}
	}
	if d.unknown {
		d.def = nil
	}
	return d, !d.unknown
}

// decode converts b to a valid UTF-8 string.
func (d *textDecoder) decode(b []byte) string {
	if d == nil || d.def == encodingUTF8 {
		return validText(b)
	}
	if bytes.IndexByte(b, 0x1B) < 0 {
		return decodeWith(d.def, b)
	}
	// ISO 2022 code extensions: decode each run with the repertoire its
	// escape sequence selected.
	var sb strings.Builder
	cur, curJIS, curSeq := d.def, d.def == japanese.ISO2022JP, ""
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0x1B)
		run := b
		if i >= 0 {
			run = b[:i]
		}
		if len(run) > 0 {
			if curJIS {
				run = append([]byte("\x1b"+curSeq), run...)
			}
			sb.WriteString(decodeWith(cur, run))
		}
		if i < 0 {
			break
		}
		b = b[i+1:]
		matched := false
		for _, e := range escapes {
			if strings.HasPrefix(string(b), e.seq) {
				cur, curJIS, curSeq = e.enc, e.jis, e.seq
				b = b[len(e.seq):]
				matched = true
				break
			}
		}
		if !matched {
			sb.WriteByte(0x1B) // unknown escape: keep it
		}
	}
	return sb.String()
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	if enc == nil || enc == encodingUTF8 {
		return validText(b)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil || !utf8.Valid(out) {
		return validText(b)
	}
	return string(out)
}

// validText returns b as a string when it is valid UTF-8 and otherwise maps
// every byte to the rune of the same value (ISO 8859-1), which keeps all the
// information and is valid JSON text.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
