// Forward reversible 5/3 lifting, low-pass part only: see lowres.h and
// lowres.go. Plain C so that the compiler vectorises the column lifting.
#include <string.h>
#include "lowres.h"

static int32_t load(const uint8_t *p, uint32_t bps, int is_signed) {
	switch (bps) {
	case 1:
		return is_signed ? (int32_t)(int8_t)p[0] : (int32_t)p[0];
	case 2: {
		uint16_t v = (uint16_t)(p[0] | (p[1] << 8));
		return is_signed ? (int32_t)(int16_t)v : (int32_t)v;
	}
	default:
		return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
	}
}

static void put(uint8_t *p, uint32_t bps, int32_t v) {
	p[0] = (uint8_t)v;
	if (bps >= 2) p[1] = (uint8_t)(v >> 8);
	if (bps == 4) {
		p[2] = (uint8_t)(v >> 16);
		p[3] = (uint8_t)(v >> 24);
	}
}

// rowsrc yields the rows of one component as int32 samples: rows of an
// int32 plane (the LL band of the level above), or rows of the frame's
// samples converted on demand into a ring of three rows, which is all the
// vertical lifting needs at a time.
typedef struct {
	const int32_t *plane; // when set, rows come from here
	const uint8_t *px;    // else from the samples of one component
	size_t row_bytes, step;
	uint32_t bps;
	int is_signed;
	uint32_t w;
	int32_t *ring[3];
	int64_t tag[3]; // the row each ring slot holds, -1 for none
} rowsrc;

static void convert_row(const rowsrc *s, uint32_t y, int32_t *restrict dst) {
	const uint8_t *src = s->px + (size_t)y * s->row_bytes;
	const size_t w = s->w;
	const size_t step = s->step;
	if (step == 2 && s->bps == 2) {
		// single-component 16-bit samples, contiguous: vectorised
		uint16_t u[256];
		for (size_t i = 0; i < w; i += 256) {
			size_t k = w - i < 256 ? w - i : 256;
			memcpy(u, src + 2 * i, 2 * k); // little endian
			if (s->is_signed)
				for (size_t j = 0; j < k; j++) dst[i + j] = (int16_t)u[j];
			else
				for (size_t j = 0; j < k; j++) dst[i + j] = u[j];
		}
		return;
	}
	switch (s->bps * 2 + (s->is_signed != 0)) {
	case 2: for (size_t i = 0; i < w; i++) dst[i] = src[i * step]; break;
	case 3: for (size_t i = 0; i < w; i++) dst[i] = (int8_t)src[i * step]; break;
	default: for (size_t i = 0; i < w; i++) dst[i] = load(src + i * step, s->bps, s->is_signed); break;
	}
}

// row_at returns row y. Rows y-1, y and y+1 (or y, y+1 and y+2) can be held
// at once: they occupy the three ring slots.
static const int32_t *row_at(rowsrc *s, uint32_t y) {
	if (s->plane) return s->plane + (size_t)y * s->w;
	const int k = (int)(y % 3);
	if (s->tag[k] != (int64_t)y) {
		convert_row(s, y, s->ring[k]);
		s->tag[k] = y;
	}
	return s->ring[k];
}

// high_row writes high row y (odd): x[y] - floor((x[y-1] + x[y+1]) / 2),
// with x[h] = x[h-2] past the last row.
static void high_row(rowsrc *s, size_t w, uint32_t h, uint32_t y, int32_t *restrict dst) {
	const int32_t *a = row_at(s, y - 1), *b = row_at(s, y);
	const int32_t *c = (y + 1 < h) ? row_at(s, y + 1) : a;
	for (size_t i = 0; i < w; i++) dst[i] = b[i] - ((a[i] + c[i]) >> 1);
}

// low_row writes the low-pass samples of the one-dimensional lifting of r
// (w samples, starting at an even index) to dst ((w+1)/2 samples).
static void low_row(const int32_t *restrict r, size_t w, int32_t *restrict dst) {
	if (w == 1) {
		dst[0] = r[0];
		return;
	}
	// high(i) for odd i, with r[w] = r[w-2] past the end and high(-1) =
	// high(1) before the start. The interior needs no bounds tests.
	int32_t prev = r[1] - ((r[0] + (w > 2 ? r[2] : r[0])) >> 1);
	size_t i = 0;
	for (; i + 2 < w; i += 2) {
		int32_t cur = r[i + 1] - ((r[i] + r[i + 2]) >> 1);
		dst[i / 2] = r[i] + ((prev + cur + 2) >> 2);
		prev = cur;
	}
	for (; i < w; i += 2) { // the last one or two samples
		int32_t cur = prev;
		if (i + 1 < w) cur = r[i + 1] - ((r[i] + r[i]) >> 1); // r[w] = r[w-2] = r[i]
		dst[i / 2] = r[i] + ((prev + cur + 2) >> 2);
		prev = cur;
	}
}

// ll writes the LL band of the w x h rows of s, (w+1)/2 x (h+1)/2 samples,
// to out, row by row: columns are lifted first, then each low row. hb holds
// two rows of w, lowr one.
static void ll(rowsrc *s, uint32_t w, uint32_t h, int32_t *hb, int32_t *lowr, int32_t *out) {
	const uint32_t ow = (w + 1) / 2;
	if (h == 1) {
		low_row(row_at(s, 0), w, out);
		return;
	}
	int32_t *prev = hb, *next = hb + w;
	high_row(s, w, h, 1, prev); // high(-1) = high(1)
	for (uint32_t y = 0; y < h; y += 2) {
		int32_t *cur = prev;
		if (y + 1 < h) {
			high_row(s, w, h, y + 1, next);
			cur = next;
		}
		// low(y) = x[y] + floor((high(y-1) + high(y+1) + 2) / 4), with
		// high(h) = high(h-2) past the last row.
		const int32_t *restrict xr = row_at(s, y);
		const int32_t *restrict p = prev, *restrict q = cur;
		int32_t *restrict l = lowr;
		for (size_t i = 0; i < w; i++) l[i] = xr[i] + ((p[i] + q[i] + 2) >> 2);
		low_row(lowr, w, out + (size_t)(y / 2) * ow);
		if (cur == next) {
			next = prev;
			prev = cur;
		}
	}
}

size_t ohi_lowres_scratch(uint32_t w, uint32_t h) {
	const size_t w1 = (w + 1) / 2, h1 = (h + 1) / 2;
	const size_t w2 = (w1 + 1) / 2, h2 = (h1 + 1) / 2;
	return 6 * (size_t)w + w1 * h1 + w2 * h2;
}

int ohi_lowres(const uint8_t *px, uint32_t w, uint32_t h, uint32_t comps, uint32_t bps,
               int is_signed, uint32_t d, int32_t lo, int32_t hi, uint8_t *out, size_t out_len,
               int32_t *scratch, size_t scratch_len) {
	size_t need = 0;
	{
		uint32_t lw = w, lh = h;
		for (uint32_t l = 0; l < d; l++) {
			lw = (lw + 1) / 2, lh = (lh + 1) / 2;
			need += (size_t)lw * lh * comps * bps;
		}
	}
	if (need != out_len || w == 0 || h == 0 || comps == 0) return -1;
	if (scratch_len < ohi_lowres_scratch(w, h)) return -1;
	int32_t *ring = scratch, *hb = ring + 3 * (size_t)w, *lowr = hb + 2 * (size_t)w;
	int32_t *big = lowr + w;                                    // level 1, 3, 5...
	int32_t *small = big + (size_t)((w + 1) / 2) * ((h + 1) / 2); // level 2, 4, ...
	const size_t step = (size_t)comps * bps;
	for (uint32_t c = 0; c < comps; c++) {
		rowsrc s = {0};
		s.px = px + (size_t)c * bps;
		s.row_bytes = (size_t)w * step;
		s.step = step;
		s.bps = bps;
		s.is_signed = is_signed;
		s.w = w;
		for (int k = 0; k < 3; k++) {
			s.ring[k] = ring + (size_t)k * w;
			s.tag[k] = -1;
		}
		uint32_t lw = w, lh = h;
		uint8_t *o = out;
		for (uint32_t l = 0; l < d; l++) {
			int32_t *dst = (l % 2 == 0) ? big : small;
			ll(&s, lw, lh, hb, lowr, dst);
			lw = (lw + 1) / 2, lh = (lh + 1) / 2;
			const size_t m = (size_t)lw * lh;
			uint8_t *op = o + (size_t)c * bps;
			for (size_t i = 0; i < m; i++) {
				int32_t v = dst[i];
				v = v < lo ? lo : (v > hi ? hi : v);
				put(op + i * step, bps, v);
			}
			o += m * step;
			s.plane = dst; // the next level reads this band
			s.w = lw;
		}
	}
	return 0;
}

#define RANGE(T)                                          \
	do {                                                  \
		const T *s = (const T *)px;                       \
		T mn = s[0], mx = s[0];                           \
		for (size_t i = 0; i < n; i++) {                  \
			mn = s[i] < mn ? s[i] : mn;                   \
			mx = s[i] > mx ? s[i] : mx;                   \
		}                                                 \
		*lo = mn, *hi = mx;                               \
	} while (0)

void ohi_range(const uint8_t *px, size_t n, uint32_t bps, int is_signed, int64_t *lo, int64_t *hi) {
	// Samples are little endian, the byte order of every platform ohi
	// builds for, and unaligned loads are fine on them.
	switch (bps * 2 + (is_signed != 0)) {
	case 2: RANGE(uint8_t); break;
	case 3: RANGE(int8_t); break;
	case 4: RANGE(uint16_t); break;
	case 5: RANGE(int16_t); break;
	case 8: RANGE(uint32_t); break;
	default: RANGE(int32_t); break;
	}
}
