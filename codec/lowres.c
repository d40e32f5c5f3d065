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

// high row y (odd): x[y] - floor((x[y-1] + x[y+1]) / 2), x[h] = x[h-2].
static void high_row(const int32_t *restrict x, size_t w, uint32_t h, uint32_t y, int32_t *restrict dst) {
	const int32_t *a = x + (size_t)(y - 1) * w, *b = x + (size_t)y * w;
	const int32_t *c = (y + 1 < h) ? x + (size_t)(y + 1) * w : a;
	for (size_t i = 0; i < w; i++) dst[i] = b[i] - ((a[i] + c[i]) >> 1);
}

// ll computes the LL band of x (w x h) into ll ((w+1)/2 x (h+1)/2); low
// holds w * (h+1)/2 samples and hb two rows of w.
static void ll(const int32_t *x, uint32_t w, uint32_t h, int32_t *low, int32_t *hb, int32_t *ll) {
	const uint32_t ow = (w + 1) / 2, oh = (h + 1) / 2;
	if (h == 1) {
		memcpy(low, x, (size_t)w * sizeof(int32_t));
	} else {
		int32_t *prev = hb, *next = hb + w;
		high_row(x, w, h, 1, prev); // high(-1) = high(1)
		for (uint32_t y = 0; y < h; y += 2) {
			int32_t *cur = prev;
			if (y + 1 < h) {
				high_row(x, w, h, y + 1, next);
				cur = next;
			}
			const int32_t *restrict xr = x + (size_t)y * w;
			int32_t *restrict dst = low + (size_t)(y / 2) * w;
			const int32_t *restrict p = prev, *restrict q = cur;
			for (size_t i = 0; i < w; i++) dst[i] = xr[i] + ((p[i] + q[i] + 2) >> 2);
			if (cur == next) {
				next = prev;
				prev = cur;
			}
		}
	}
	for (uint32_t y = 0; y < oh; y++) {
		const int32_t *r = low + (size_t)y * w;
		int32_t *dst = ll + (size_t)y * ow;
		if (w == 1) {
			dst[0] = r[0];
			continue;
		}
		// high(i) for odd i, with r[w] = r[w-2] past the end and
		// high(-1) = high(1) before the start. The interior needs no
		// bounds tests: i + 2 < w for every odd i < w - 1.
		int32_t prev = r[1] - ((r[0] + (w > 2 ? r[2] : r[0])) >> 1);
		uint32_t i = 0;
		for (; i + 2 < w; i += 2) {
			int32_t cur = r[i + 1] - ((r[i] + r[i + 2]) >> 1);
			dst[i / 2] = r[i] + ((prev + cur + 2) >> 2);
			prev = cur;
		}
		// the last one or two samples
		for (; i < w; i += 2) {
			int32_t cur = prev;
			if (i + 1 < w) cur = r[i + 1] - ((r[i] + r[i]) >> 1); // r[w] = r[w-2] = r[i]
			dst[i / 2] = r[i] + ((prev + cur + 2) >> 2);
			prev = cur;
		}
	}
}

size_t ohi_lowres_scratch(uint32_t w, uint32_t h) {
	return (size_t)w * h + (size_t)((w + 1) / 2) * ((h + 1) / 2) + 1 + (size_t)w * ((h + 1) / 2) + 2 * (size_t)w;
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
	const size_t n = (size_t)w * h;
	if (scratch_len < ohi_lowres_scratch(w, h)) return -1;
	int32_t *a = scratch;
	int32_t *b = a + n;
	int32_t *low = b + (size_t)((w + 1) / 2) * ((h + 1) / 2) + 1;
	int32_t *hb = low + (size_t)w * ((h + 1) / 2);
	const size_t step = (size_t)comps * bps;
	for (uint32_t c = 0; c < comps; c++) {
		const uint8_t *src = px + (size_t)c * bps;
		if (comps == 1 && bps == 2) {
			// the common case, contiguous: let the compiler vectorise it
			uint16_t u[256];
			for (size_t i = 0; i < n; i += 256) {
				size_t k = n - i < 256 ? n - i : 256;
				memcpy(u, src + 2 * i, 2 * k); // little endian samples
				if (is_signed)
					for (size_t j = 0; j < k; j++) a[i + j] = (int16_t)u[j];
				else
					for (size_t j = 0; j < k; j++) a[i + j] = u[j];
			}
		} else switch (bps * 2 + (is_signed != 0)) {
		case 2: for (size_t i = 0; i < n; i++) a[i] = src[i * step]; break;
		case 3: for (size_t i = 0; i < n; i++) a[i] = (int8_t)src[i * step]; break;
		case 4: for (size_t i = 0; i < n; i++) a[i] = (uint16_t)(src[i * step] | src[i * step + 1] << 8); break;
		case 5: for (size_t i = 0; i < n; i++) a[i] = (int16_t)(uint16_t)(src[i * step] | src[i * step + 1] << 8); break;
		default: for (size_t i = 0; i < n; i++) a[i] = load(src + i * step, bps, is_signed); break;
		}
		uint32_t lw = w, lh = h;
		int32_t *cur = a, *nxt = b;
		uint8_t *o = out;
		for (uint32_t l = 0; l < d; l++) {
			ll(cur, lw, lh, low, hb, nxt);
			lw = (lw + 1) / 2, lh = (lh + 1) / 2;
			const size_t m = (size_t)lw * lh;
			uint8_t *dst = o + (size_t)c * bps;
			for (size_t i = 0; i < m; i++) {
				int32_t v = nxt[i];
				v = v < lo ? lo : (v > hi ? hi : v);
				put(dst + i * step, bps, v);
			}
			o += m * step;
			int32_t *t = cur;
			cur = nxt;
			nxt = t;
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
