// OpenJPH 0.9.0 shim for package codec: in-memory HTJ2K encode and decode.
// No C++ exception may leave this file: every entry point catches them all.
// OpenJPH's messages are routed to handlers that print nothing; its error
// handler throws, as OpenJPH expects its error handler not to return.

#include "ojph_shim.h"

#include <openjph/ojph_arch.h>
#include <openjph/ojph_codestream.h>
#include <openjph/ojph_file.h>
#include <openjph/ojph_mem.h>
#include <openjph/ojph_message.h>
#include <openjph/ojph_params.h>

#include <cstdarg>
#include <sys/types.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

namespace {

// codec_error carries an OpenJPH error message; its code tells whether the
// input is corrupt or merely unsupported.
struct codec_error : std::runtime_error {
	int code;
	codec_error(int c, const char *m) : std::runtime_error(m), code(c) {}
};

// OpenJPH 0.9.0's configure_error/warning/info copy the handler object into
// a base-class reference (slicing it), so custom handlers are never called.
// Its default handlers print to FILE streams, and the error handler then
// throws std::runtime_error("ojph error"). The streams are therefore
// replaced: info and warnings go to a sink, errors to an unbuffered stream
// that records the message of the calling thread (each shim call runs on one
// thread), so that it can be returned instead of printed.
thread_local char last_error[200];
thread_local size_t last_error_len;

ssize_t capture_write(void *, const char *buf, size_t n) {
	size_t room = sizeof last_error - 1 - last_error_len;
	size_t k = n < room ? n : room;
	memcpy(last_error + last_error_len, buf, k);
	last_error_len += k;
	last_error[last_error_len] = 0;
	return (ssize_t)n;
}

ssize_t sink_write(void *, const char *, size_t n) { return (ssize_t)n; }

std::once_flag quiet_once;

void quiet() {
	std::call_once(quiet_once, [] {
		cookie_io_functions_t capture = {nullptr, capture_write, nullptr, nullptr};
		cookie_io_functions_t sink = {nullptr, sink_write, nullptr, nullptr};
		FILE *e = fopencookie(nullptr, "w", capture);
		FILE *s = fopencookie(nullptr, "w", sink);
		if (e) {
			setvbuf(e, nullptr, _IONBF, 0);
			ojph::set_error_stream(e);
		}
		if (s) {
			setvbuf(s, nullptr, _IONBF, 0);
			ojph::set_warning_stream(s);
			ojph::set_info_stream(s);
		}
	});
	last_error_len = 0;
	last_error[0] = 0;
}

// openjph_message returns the recorded error message, trimmed, or fallback.
const char *openjph_message(const char *fallback) {
	while (last_error_len > 0 && (last_error[last_error_len - 1] == '\n' || last_error[last_error_len - 1] == ' '))
		last_error[--last_error_len] = 0;
	return last_error_len > 0 ? last_error : fallback;
}

// heap_outfile collects the codestream in a malloc'ed buffer that is handed
// to the caller.
class heap_outfile : public ojph::outfile_base {
public:
	explicit heap_outfile(size_t initial) {
		cap = initial < 4096 ? 4096 : initial;
		buf = static_cast<uint8_t *>(malloc(cap));
		if (!buf) throw std::bad_alloc();
	}
	~heap_outfile() override { free(buf); }
	size_t write(const void *p, size_t n) override {
		if (n > cap - len) {
			size_t c = cap;
			while (n > c - len) c *= 2;
			uint8_t *b = static_cast<uint8_t *>(realloc(buf, c));
			if (!b) throw std::bad_alloc();
			buf = b;
			cap = c;
		}
		memcpy(buf + len, p, n);
		len += n;
		return n;
	}
	ojph::si64 tell() override { return (ojph::si64)len; }
	uint8_t *release(size_t *n) {
		uint8_t *b = buf;
		*n = len;
		buf = nullptr;
		len = cap = 0;
		return b;
	}

private:
	uint8_t *buf = nullptr;
	size_t len = 0, cap = 0;
};

void set_err(char *err, size_t errlen, const char *msg) {
	if (err && errlen) snprintf(err, errlen, "%s", msg);
}

template <typename F>
int guarded(char *err, size_t errlen, F f) {
	try {
		quiet();
		return f();
	} catch (const codec_error &e) {
		set_err(err, errlen, e.what());
		return e.code;
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
		return OHI_NOMEM;
	} catch (const std::exception &e) {
		set_err(err, errlen, openjph_message(e.what()));
		return OHI_CORRUPT;
	} catch (...) {
		set_err(err, errlen, "unknown C++ exception");
		return OHI_CORRUPT;
	}
}

inline ojph::si32 load(const uint8_t *p, uint32_t bps, bool is_signed) {
	switch (bps) {
	case 1:
		return is_signed ? (ojph::si32)(int8_t)p[0] : (ojph::si32)p[0];
	case 2: {
		uint16_t v = (uint16_t)(p[0] | (uint16_t)p[1] << 8);
		return is_signed ? (ojph::si32)(int16_t)v : (ojph::si32)v;
	}
	default: {
		uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		return (ojph::si32)v; // the Go side guarantees the value fits
	}
	}
}

// load_line widens the w samples of type T at src (little endian, step
// bytes apart) into dst, contiguously for single-component frames so that
// the compiler vectorises it (size_t indices: a 32-bit index that may wrap
// keeps GCC from doing so).
template <typename T>
void load_line(const uint8_t *src, ojph::si32 *dst, uint32_t w, size_t step) {
	if (step == sizeof(T)) {
		T e[256];
		for (size_t x = 0; x < w; x += 256) {
			const size_t k = w - x < 256 ? w - x : 256;
			memcpy(e, src + x * sizeof(T), k * sizeof(T));
			ojph::si32 *d = dst + x;
			for (size_t j = 0; j < k; ++j) d[j] = (ojph::si32)e[j];
		}
		return;
	}
	for (uint32_t x = 0; x < w; ++x, src += step) {
		T e;
		memcpy(&e, src, sizeof e);
		dst[x] = (ojph::si32)e;
	}
}

// equal_line reports whether the w decoded samples of src equal the samples
// at want (bps bytes each, little endian, step bytes apart) exactly. There
// is no clamping: a lossless decode gives back the source values, and a
// value outside the sample range is a difference. One loop per sample size,
// and a contiguous one for single-component frames, so that the compiler
// vectorises them.
template <typename T>
bool equal_as(const ojph::si32 *src, const uint8_t *want, uint32_t w, size_t step) {
	ojph::si32 diff = 0;
	if (step == sizeof(T)) {
		T e[256];
		for (size_t x = 0; x < w; x += 256) {
			const size_t k = w - x < 256 ? w - x : 256;
			memcpy(e, want + x * sizeof(T), k * sizeof(T));
			const ojph::si32 *s = src + x;
			for (size_t j = 0; j < k; ++j) diff |= s[j] ^ (ojph::si32)e[j];
		}
		return diff == 0;
	}
	for (uint32_t x = 0; x < w; ++x, want += step) {
		T e;
		memcpy(&e, want, sizeof e);
		diff |= src[x] ^ (ojph::si32)e;
	}
	return diff == 0;
}

bool equal_line(const ojph::si32 *src, const uint8_t *want, uint32_t w, size_t step, uint32_t bps, bool is_signed) {
	switch (bps) {
	case 1:
		return is_signed ? equal_as<int8_t>(src, want, w, step) : equal_as<uint8_t>(src, want, w, step);
	case 2:
		return is_signed ? equal_as<int16_t>(src, want, w, step) : equal_as<uint16_t>(src, want, w, step);
	default:
		return equal_as<int32_t>(src, want, w, step);
	}
}

// store_line clamps the w decoded samples of src to [lo, hi] and stores
// them as T at dst (little endian, step bytes apart); like equal_as, it has
// a contiguous loop for single-component frames that the compiler
// vectorises.
template <typename T>
void store_as(const ojph::si32 *src, uint8_t *dst, uint32_t w, size_t step, ojph::si32 lo, ojph::si32 hi) {
	if (step == sizeof(T)) {
		T e[256];
		for (size_t x = 0; x < w; x += 256) {
			const size_t k = w - x < 256 ? w - x : 256;
			const ojph::si32 *s = src + x;
			for (size_t j = 0; j < k; ++j) {
				ojph::si32 v = s[j];
				v = v < lo ? lo : v;
				v = v > hi ? hi : v;
				e[j] = (T)v;
			}
			memcpy(dst + x * sizeof(T), e, k * sizeof(T));
		}
		return;
	}
	for (uint32_t x = 0; x < w; ++x, dst += step) {
		ojph::si32 v = src[x];
		v = v < lo ? lo : (v > hi ? hi : v);
		T e = (T)v;
		memcpy(dst, &e, sizeof e);
	}
}

void store_line(const ojph::si32 *src, uint8_t *dst, uint32_t w, size_t step, uint32_t bps, ojph::si32 lo, ojph::si32 hi) {
	switch (bps) {
	case 1:
		store_as<uint8_t>(src, dst, w, step, lo, hi);
		break;
	case 2:
		store_as<uint16_t>(src, dst, w, step, lo, hi);
		break;
	default:
		store_as<uint32_t>(src, dst, w, step, lo, hi);
	}
}

} // namespace

extern "C" int ohi_ht_encode(const uint8_t *px, uint32_t w, uint32_t h, uint32_t comps,
                             uint32_t bps, uint32_t precision, int is_signed,
                             uint32_t decompositions, uint8_t **out, size_t *out_len,
                             char *err, size_t errlen) {
	return guarded(err, errlen, [&]() -> int {
		*out = nullptr;
		*out_len = 0;
		if (comps < 1 || comps > 4 || (bps != 1 && bps != 2 && bps != 4)) throw codec_error(OHI_UNSUPPORTED, "unsupported sample layout");
		ojph::codestream cs;
		ojph::param_siz siz = cs.access_siz();
		siz.set_image_extent(ojph::point(w, h));
		siz.set_image_offset(ojph::point(0, 0));
		siz.set_tile_size(ojph::size(w, h));
		siz.set_tile_offset(ojph::point(0, 0));
		siz.set_num_components(comps);
		for (uint32_t c = 0; c < comps; ++c)
			siz.set_component(c, ojph::point(1, 1), precision, is_signed != 0);
		ojph::param_cod cod = cs.access_cod();
		cod.set_num_decomposition(decompositions);
		cod.set_block_dims(64, 64);
		cod.set_progression_order("RPCL");
		cod.set_color_transform(false);
		cod.set_reversible(true);
		cs.set_planar(false);

		size_t raw = (size_t)w * h * comps * bps;
		heap_outfile file(raw / 2 + 1024);
		cs.write_headers(&file);
		const size_t stride = (size_t)w * comps * bps;
		const bool sgn = is_signed != 0;
		ojph::ui32 c = 0;
		ojph::line_buf *line = cs.exchange(nullptr, c);
		uint32_t row[4] = {0, 0, 0, 0};
		for (size_t n = (size_t)h * comps; n > 0; --n) {
			if (c >= comps || row[c] >= h) throw codec_error(OHI_CORRUPT, "openjph asked for an unexpected line");
			const uint8_t *src = px + row[c] * stride + (size_t)c * bps;
			ojph::si32 *dst = line->i32;
			const size_t step = (size_t)comps * bps;
			switch (bps * 2 + (sgn ? 1 : 0)) {
			case 2: load_line<uint8_t>(src, dst, w, step); break;
			case 3: load_line<int8_t>(src, dst, w, step); break;
			case 4: load_line<uint16_t>(src, dst, w, step); break;
			case 5: load_line<int16_t>(src, dst, w, step); break;
			default:
				for (uint32_t x = 0; x < w; ++x, src += step) dst[x] = load(src, bps, sgn);
			}
			row[c]++;
			line = cs.exchange(line, c);
		}
		cs.flush();
		*out = file.release(out_len);
		cs.close();
		return OHI_OK;
	});
}

namespace {
void fill_header(ojph::codestream &cs, ohi_ht_header *hdr) {
	ojph::param_siz siz = cs.access_siz();
	ojph::param_cod cod = cs.access_cod();
	hdr->components = siz.get_num_components();
	hdr->width = siz.get_recon_width(0);
	hdr->height = siz.get_recon_height(0);
	hdr->precision = siz.get_bit_depth(0);
	hdr->is_signed = siz.is_signed(0) ? 1 : 0;
	hdr->uniform = 1;
	for (ojph::ui32 c = 1; c < hdr->components; ++c) {
		ojph::point d = siz.get_downsampling(c);
		if (d.x != 1 || d.y != 1 || siz.get_bit_depth(c) != hdr->precision ||
		    siz.is_signed(c) != (hdr->is_signed != 0) || siz.get_recon_width(c) != hdr->width ||
		    siz.get_recon_height(c) != hdr->height)
			hdr->uniform = 0;
	}
	ojph::point d0 = siz.get_downsampling(0);
	if (d0.x != 1 || d0.y != 1) hdr->uniform = 0;
	hdr->decompositions = cod.get_num_decompositions();
	hdr->reversible = cod.is_reversible() ? 1 : 0;
}
} // namespace

extern "C" int ohi_ht_read_header(const uint8_t *data, size_t len, ohi_ht_header *hdr,
                                  char *err, size_t errlen) {
	return guarded(err, errlen, [&]() -> int {
		memset(hdr, 0, sizeof *hdr);
		ojph::mem_infile in;
		in.open(data, len);
		ojph::codestream cs;
		cs.read_headers(&in);
		fill_header(cs, hdr);
		cs.close();
		return OHI_OK;
	});
}

// decode_into decodes data into out or, when compare is set, compares the
// decoded samples with out and returns OHI_MISMATCH at the first difference.
static int decode_into(const uint8_t *data, size_t len, uint32_t skip, uint32_t w,
                       uint32_t h, uint32_t comps, uint32_t bps, uint8_t *out,
                       size_t out_len, bool compare, char *err, size_t errlen) {
	return guarded(err, errlen, [&]() -> int {
		if (comps < 1 || comps > 4 || (bps != 1 && bps != 2 && bps != 4)) throw codec_error(OHI_UNSUPPORTED, "unsupported sample layout");
		if ((size_t)w * h * comps * bps != out_len) throw codec_error(OHI_CORRUPT, "output buffer size mismatch");
		ojph::mem_infile in;
		in.open(data, len);
		ojph::codestream cs;
		cs.read_headers(&in);
		ohi_ht_header hdr;
		fill_header(cs, &hdr);
		if (!hdr.uniform || hdr.components != comps) throw codec_error(OHI_UNSUPPORTED, "components differ in size, precision or sign");
		if (skip > hdr.decompositions) throw codec_error(OHI_UNSUPPORTED, "more resolution levels skipped than the codestream has");
		if (skip > 0) cs.restrict_input_resolution(skip, skip);
		ojph::param_siz siz = cs.access_siz();
		for (ojph::ui32 c = 0; c < comps; ++c)
			if (siz.get_recon_width(c) != w || siz.get_recon_height(c) != h)
				throw codec_error(OHI_CORRUPT, "reconstructed size differs from the expected size");
		cs.set_planar(false);
		cs.create();
		const ojph::si32 lo = hdr.is_signed ? -(ojph::si32)(1u << (hdr.precision - 1)) : 0;
		const ojph::si32 hi = hdr.is_signed ? (ojph::si32)((1u << (hdr.precision - 1)) - 1)
		                                    : (ojph::si32)((hdr.precision >= 31) ? 0x7fffffff : (1u << hdr.precision) - 1);
		const size_t stride = (size_t)w * comps * bps;
		const size_t step = (size_t)comps * bps;
		uint32_t row[4] = {0, 0, 0, 0};
		for (size_t n = (size_t)h * comps; n > 0; --n) {
			ojph::ui32 c = 0;
			ojph::line_buf *line = cs.pull(c);
			if (!line || c >= comps || row[c] >= h) throw codec_error(OHI_CORRUPT, "openjph returned an unexpected line");
			uint8_t *dst = out + row[c] * stride + (size_t)c * bps;
			const ojph::si32 *src = line->i32;
			if (compare) {
				if (!equal_line(src, dst, w, step, bps, hdr.is_signed != 0)) {
					cs.close();
					return OHI_MISMATCH;
				}
			} else {
				store_line(src, dst, w, step, bps, lo, hi);
			}
			row[c]++;
		}
		cs.close();
		return OHI_OK;
	});
}

extern "C" int ohi_ht_decode(const uint8_t *data, size_t len, uint32_t skip, uint32_t w,
                             uint32_t h, uint32_t comps, uint32_t bps, uint8_t *out,
                             size_t out_len, char *err, size_t errlen) {
	return decode_into(data, len, skip, w, h, comps, bps, out, out_len, false, err, errlen);
}

extern "C" int ohi_ht_verify(const uint8_t *data, size_t len, uint32_t w, uint32_t h,
                             uint32_t comps, uint32_t bps, const uint8_t *want,
                             size_t want_len, char *err, size_t errlen) {
	return decode_into(data, len, 0, w, h, comps, bps, const_cast<uint8_t *>(want), want_len, true, err, errlen);
}
