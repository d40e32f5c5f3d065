// C interface of the CharLS shim (jls_shim.c): in-memory JPEG-LS decoding
// through CharLS 2's C API. CharLS reports errors through return codes and
// never prints; its message is returned through err.
#ifndef OHI_JLS_SHIM_H
#define OHI_JLS_SHIM_H

#include <stddef.h>
#include <stdint.h>

// ohi_jls_info is what a JPEG-LS frame header (SOF55) and first scan
// declare.
typedef struct {
	uint32_t width, height, components, bits_per_sample;
	int32_t interleave; // 0 none (planar output), 1 line, 2 sample (interleaved output)
	int32_t near;       // NEAR of component 0 (0 for lossless)
} ohi_jls_info;

// ohi_jls_decode decodes the JPEG-LS stream data into out (out_len bytes).
// It reads the header first and decodes only if the stream is want_w x
// want_h with want_comps components of at most want_bits bits and its
// decoded size (1 byte per sample up to 8 bits, 2 bytes in machine order
// above; planar when the stream is not interleaved) is exactly out_len, so
// that the header cannot make it write past out. *info is filled once the
// header is read. Returns OHI_OK, OHI_CORRUPT, OHI_UNSUPPORTED or OHI_NOMEM
// (ojph_shim.h).
int ohi_jls_decode(const uint8_t *data, size_t len, uint32_t want_w, uint32_t want_h,
                   uint32_t want_comps, uint32_t want_bits, uint8_t *out, size_t out_len,
                   ohi_jls_info *info, char *err, size_t errlen);

#endif
