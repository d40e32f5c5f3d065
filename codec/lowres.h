// Lower resolution levels of the reversible 5/3 wavelet transform (lowres.c).
#ifndef OHI_LOWRES_H
#define OHI_LOWRES_H

#include <stddef.h>
#include <stdint.h>

// ohi_lowres computes, for levels 1..d, the LL band of the forward
// reversible 5/3 transform (ITU-T T.800 Annex F, columns then rows, tile at
// the origin) of every component of px: w*h*comps interleaved little-endian
// samples of bps bytes (1, 2 or 4; two's complement when is_signed). Each
// level's samples are clamped to [lo, hi] and written in the same layout to
// out, level 1 first, levels back to back; out_len must be the total size.
// scratch holds scratch_len samples of working memory, at least
// ohi_lowres_scratch(w, h). It returns 0, or -1 when out_len is wrong or
// scratch is too small.
int ohi_lowres(const uint8_t *px, uint32_t w, uint32_t h, uint32_t comps, uint32_t bps,
               int is_signed, uint32_t d, int32_t lo, int32_t hi, uint8_t *out, size_t out_len,
               int32_t *scratch, size_t scratch_len);

// ohi_lowres_scratch is the working memory ohi_lowres needs for a w x h
// image, in samples.
size_t ohi_lowres_scratch(uint32_t w, uint32_t h);

// ohi_range sets *lo and *hi to the smallest and largest of the n samples
// of bps bytes (1, 2 or 4, little endian, two's complement when is_signed)
// at px; n must be at least 1.
void ohi_range(const uint8_t *px, size_t n, uint32_t bps, int is_signed, int64_t *lo, int64_t *hi);

#endif
