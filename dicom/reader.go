package dicom

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// cursor reads sequentially from an io.ReaderAt of known size through a small
// window buffer. It never reads or allocates past end.
type cursor struct {
	ra    io.ReaderAt
	pos   int64
	end   int64
	bo    binary.ByteOrder
	win   []byte // buffered bytes starting at winAt
	wbuf  []byte
	winAt int64
}

const windowSize = 64 << 10

var windowPool = sync.Pool{New: func() any { return new([windowSize]byte) }}

// newCursor returns a cursor over [start, end) of ra. Call release when done.
func newCursor(ra io.ReaderAt, start, end int64) *cursor {
	w := windowPool.Get().(*[windowSize]byte)
	return &cursor{ra: ra, pos: start, end: end, bo: binary.LittleEndian, wbuf: w[:]}
}

// release returns the window buffer to the pool; the cursor is unusable after.
func (c *cursor) release() {
	if c.wbuf != nil {
		windowPool.Put((*[windowSize]byte)(c.wbuf))
		c.wbuf, c.win = nil, nil
	}
}

func (c *cursor) remaining() int64 { return c.end - c.pos }

// errTruncated is returned by cursor reads past the end of the data.
var errTruncated = errors.New("unexpected end of data")

// readAtFull reads exactly len(p) bytes at off.
func readAtFull(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		return errTruncated
	}
	return err
}

// peek returns the next n bytes (n <= windowSize) without consuming them. The
// slice is valid until the next cursor call.
func (c *cursor) peek(n int) ([]byte, error) {
	if int64(n) > c.remaining() {
		return nil, errTruncated
	}
	if c.pos >= c.winAt && c.pos+int64(n) <= c.winAt+int64(len(c.win)) {
		o := c.pos - c.winAt
		return c.win[o : o+int64(n)], nil
	}
	m := int64(len(c.wbuf))
	if m > c.remaining() {
		m = c.remaining()
	}
	if err := readAtFull(c.ra, c.wbuf[:m], c.pos); err != nil {
		c.win = nil
		return nil, err
	}
	c.win, c.winAt = c.wbuf[:m], c.pos
	return c.win[:n], nil
}

// next consumes and returns the next n bytes (n <= windowSize).
func (c *cursor) next(n int) ([]byte, error) {
	b, err := c.peek(n)
	if err == nil {
		c.pos += int64(n)
	}
	return b, err
}

func (c *cursor) u16() (uint16, error) {
	b, err := c.next(2)
	if err != nil {
		return 0, err
	}
	return c.bo.Uint16(b), nil
}

func (c *cursor) u32() (uint32, error) {
	b, err := c.next(4)
	if err != nil {
		return 0, err
	}
	return c.bo.Uint32(b), nil
}

// value reads n bytes into a new slice. The caller has already checked n
// against remaining() and the budgets.
func (c *cursor) value(n int64) ([]byte, error) {
	if n > c.remaining() {
		return nil, errTruncated
	}
	p := make([]byte, n)
	if n <= windowSize {
		b, err := c.next(int(n))
		if err != nil {
			return nil, err
		}
		copy(p, b)
		return p, nil
	}
	if err := readAtFull(c.ra, p, c.pos); err != nil {
		return nil, err
	}
	c.pos += n
	return p, nil
}

func (c *cursor) skip(n int64) error {
	if n > c.remaining() {
		return errTruncated
	}
	c.pos += n
	return nil
}
