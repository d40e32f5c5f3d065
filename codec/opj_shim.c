// OpenJPEG 2.5 shim for package codec: lossless JPEG 2000 Part 1 encoding
// and decoding of raw codestreams held in memory. Streams read from and
// write to buffers through callbacks (no temporary files), and OpenJPEG's
// messages are collected into the caller's error buffer instead of being
// printed.

#include "opj_shim.h"

#include <openjpeg.h>

#include <stdlib.h>
#include <string.h>

// Size of OpenJPEG's stream buffer (the chunks it reads and writes).
#define STREAM_CHUNK ((OPJ_SIZE_T)1 << 16)

// ---- messages

typedef struct {
	char *buf;
	size_t cap, len;
} messages;

static void msg_init(messages *m, char *buf, size_t cap) {
	m->buf = buf;
	m->cap = cap;
	m->len = 0;
	if (cap > 0)
		buf[0] = 0;
}

// msg_add appends msg (without its trailing newline) to the buffer, after
// "; " when it is not the first one, truncating at the buffer's end.
static void msg_add(messages *m, const char *msg) {
	if (m->cap == 0 || msg == NULL)
		return;
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	if (n == 0)
		return;
	if (m->len > 0) {
		const char *sep = "; ";
		for (; *sep && m->len + 1 < m->cap; sep++)
			m->buf[m->len++] = *sep;
	}
	size_t room = m->cap - 1 - m->len;
	if (n > room)
		n = room;
	memcpy(m->buf + m->len, msg, n);
	m->len += n;
	m->buf[m->len] = 0;
}

static void on_error(const char *msg, void *client) { msg_add((messages *)client, msg); }

static void on_quiet(const char *msg, void *client) {
	(void)msg;
	(void)client;
}

// fail records msg when OpenJPEG reported nothing, and returns status.
static int fail(messages *m, int status, const char *msg) {
	if (m->len == 0)
		msg_add(m, msg);
	return status;
}

static void quiet_codec(opj_codec_t *codec, messages *m) {
	opj_set_info_handler(codec, on_quiet, NULL);
	opj_set_warning_handler(codec, on_quiet, NULL);
	opj_set_error_handler(codec, on_error, m);
}

// ---- input stream over a buffer

typedef struct {
	const uint8_t *data;
	size_t len, pos;
} in_buf;

static OPJ_SIZE_T in_read(void *dst, OPJ_SIZE_T n, void *user) {
	in_buf *b = (in_buf *)user;
	if (b->pos >= b->len)
		return (OPJ_SIZE_T)-1;
	size_t k = b->len - b->pos;
	if (n < k)
		k = n;
	memcpy(dst, b->data + b->pos, k);
	b->pos += k;
	return k;
}

static OPJ_OFF_T in_skip(OPJ_OFF_T n, void *user) {
	in_buf *b = (in_buf *)user;
	if (n < 0)
		return -1;
	size_t k = b->len - b->pos;
	if ((OPJ_UINT64)n < k)
		k = (size_t)n;
	b->pos += k;
	return (OPJ_OFF_T)k;
}

static OPJ_BOOL in_seek(OPJ_OFF_T off, void *user) {
	in_buf *b = (in_buf *)user;
	if (off < 0 || (OPJ_UINT64)off > b->len)
		return OPJ_FALSE;
	b->pos = (size_t)off;
	return OPJ_TRUE;
}

static opj_stream_t *in_stream(in_buf *b) {
	opj_stream_t *s = opj_stream_create(STREAM_CHUNK, OPJ_TRUE);
	if (s == NULL)
		return NULL;
	opj_stream_set_user_data(s, b, NULL);
	opj_stream_set_user_data_length(s, b->len);
	opj_stream_set_read_function(s, in_read);
	opj_stream_set_skip_function(s, in_skip);
	opj_stream_set_seek_function(s, in_seek);
	return s;
}

// ---- output stream into a growing buffer

typedef struct {
	uint8_t *data;
	size_t len, cap, pos, max;
	int too_big, nomem;
} out_buf;

// out_reserve makes room for end bytes; the bytes between len and end are
// zeroed.
static int out_reserve(out_buf *b, size_t end) {
	if (end > b->max) {
		b->too_big = 1;
		return 0;
	}
	if (end > b->cap) {
		size_t c = b->cap ? b->cap : STREAM_CHUNK;
		while (c < end)
			c = c > b->max / 2 ? b->max : c * 2;
		uint8_t *d = (uint8_t *)realloc(b->data, c);
		if (d == NULL) {
			b->nomem = 1;
			return 0;
		}
		b->data = d;
		b->cap = c;
	}
	if (end > b->len) {
		memset(b->data + b->len, 0, end - b->len);
		b->len = end;
	}
	return 1;
}

static OPJ_SIZE_T out_write(void *src, OPJ_SIZE_T n, void *user) {
	out_buf *b = (out_buf *)user;
	if (n > b->max - b->pos) {
		b->too_big = 1;
		return (OPJ_SIZE_T)-1;
	}
	if (!out_reserve(b, b->pos + n))
		return (OPJ_SIZE_T)-1;
	memcpy(b->data + b->pos, src, n);
	b->pos += n;
	return n;
}

static OPJ_OFF_T out_skip(OPJ_OFF_T n, void *user) {
	out_buf *b = (out_buf *)user;
	if (n < 0 || (OPJ_UINT64)n > b->max - b->pos) {
		b->too_big = 1;
		return -1;
	}
	if (!out_reserve(b, b->pos + (size_t)n))
		return -1;
	b->pos += (size_t)n;
	return n;
}

static OPJ_BOOL out_seek(OPJ_OFF_T off, void *user) {
	out_buf *b = (out_buf *)user;
	if (off < 0 || (OPJ_UINT64)off > b->len)
		return OPJ_FALSE;
	b->pos = (size_t)off;
	return OPJ_TRUE;
}

// ---- encoding

static OPJ_INT32 sample(const uint8_t *p, uint32_t bps, int is_signed) {
	switch (bps) {
	case 1:
		return is_signed ? (OPJ_INT32)(int8_t)p[0] : (OPJ_INT32)p[0];
	case 2: {
		uint16_t u = (uint16_t)(p[0] | (uint16_t)p[1] << 8);
		return is_signed ? (OPJ_INT32)(int16_t)u : (OPJ_INT32)u;
	}
	default: {
		uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		return (OPJ_INT32)u; // the precision (at most 31 bits) keeps it in range
	}
	}
}

int ohi_j2k_encode(const uint8_t *px, uint32_t w, uint32_t h, uint32_t comps,
                   uint32_t bps, uint32_t precision, int is_signed,
                   uint32_t decompositions, size_t max_out, uint8_t **out,
                   size_t *out_len, char *err, size_t errlen) {
	messages m;
	msg_init(&m, err, errlen);
	*out = NULL;
	*out_len = 0;
	if (w == 0 || h == 0 || (comps != 1 && comps != 3) || (bps != 1 && bps != 2 && bps != 4) ||
	    precision < 1 || precision > 31 || precision > 8 * bps || decompositions >= OPJ_J2K_MAXRLVLS)
		return fail(&m, OHI_J2K_UNSUPPORTED, "unsupported encoding parameters");

	opj_image_cmptparm_t cp[3];
	memset(cp, 0, sizeof cp);
	for (uint32_t c = 0; c < comps; c++) {
		cp[c].dx = cp[c].dy = 1;
		cp[c].w = w;
		cp[c].h = h;
		cp[c].prec = precision;
		cp[c].sgnd = is_signed ? 1 : 0;
	}
	opj_image_t *img = opj_image_create(comps, cp, comps == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY);
	if (img == NULL)
		return fail(&m, OHI_J2K_NOMEM, "cannot allocate the image");
	img->x0 = img->y0 = 0;
	img->x1 = w;
	img->y1 = h;
	size_t n = (size_t)w * h;
	for (uint32_t c = 0; c < comps; c++) {
		OPJ_INT32 *d = img->comps[c].data;
		const uint8_t *s = px + (size_t)c * bps;
		size_t step = (size_t)comps * bps;
		for (size_t i = 0; i < n; i++, s += step)
			d[i] = sample(s, bps, is_signed);
	}

	opj_cparameters_t prm;
	opj_set_default_encoder_parameters(&prm);
	prm.tcp_numlayers = 1;
	prm.tcp_rates[0] = 0; // lossless
	prm.cp_disto_alloc = 1;
	prm.irreversible = 0; // 5/3
	prm.numresolution = (int)decompositions + 1;
	prm.cblockw_init = prm.cblockh_init = 64;
	prm.prog_order = OPJ_RPCL;
	prm.tcp_mct = 0; // RGB stays RGB
	prm.tp_on = 1;
	prm.tp_flag = 'R'; // one tile-part per resolution level
	prm.cod_format = 0;

	out_buf ob = {NULL, 0, 0, 0, max_out, 0, 0};
	int st = OHI_J2K_OK;
	opj_stream_t *s = NULL;
	opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
	const char *const extra[] = {"TLM=YES", NULL};
	if (codec == NULL) {
		st = fail(&m, OHI_J2K_NOMEM, "cannot create the encoder");
		goto done;
	}
	quiet_codec(codec, &m);
	if (!opj_setup_encoder(codec, &prm, img)) {
		st = fail(&m, OHI_J2K_UNSUPPORTED, "encoder setup failed");
		goto done;
	}
	if (!opj_encoder_set_extra_options(codec, extra)) {
		st = fail(&m, OHI_J2K_UNSUPPORTED, "cannot enable TLM markers");
		goto done;
	}
	opj_codec_set_threads(codec, 0); // frames are encoded in parallel by the caller
	s = opj_stream_create(STREAM_CHUNK, OPJ_FALSE);
	if (s == NULL) {
		st = fail(&m, OHI_J2K_NOMEM, "cannot create the output stream");
		goto done;
	}
	opj_stream_set_user_data(s, &ob, NULL);
	opj_stream_set_write_function(s, out_write);
	opj_stream_set_skip_function(s, out_skip);
	opj_stream_set_seek_function(s, out_seek);
	if (!opj_start_compress(codec, img, s) || !opj_encode(codec, s) || !opj_end_compress(codec, s)) {
		if (ob.too_big)
			st = fail(&m, OHI_J2K_UNSUPPORTED, "the codestream would exceed its size limit");
		else if (ob.nomem)
			st = fail(&m, OHI_J2K_NOMEM, "cannot allocate the codestream");
		else
			st = fail(&m, OHI_J2K_UNSUPPORTED, "encoding failed");
		goto done;
	}
	if (ob.len < 4) {
		st = fail(&m, OHI_J2K_UNSUPPORTED, "encoding produced no codestream");
		goto done;
	}
	*out = ob.data;
	*out_len = ob.len;
	ob.data = NULL;
done:
	if (s)
		opj_stream_destroy(s);
	if (codec)
		opj_destroy_codec(codec);
	opj_image_destroy(img);
	free(ob.data);
	return st;
}

// ---- decoding

// open_decoder creates a J2K decoder reading b, with reduce highest
// resolution levels left out, and reads the main header into *img.
static int open_decoder(in_buf *b, uint32_t reduce, messages *m, opj_codec_t **codec,
                        opj_stream_t **s, opj_image_t **img) {
	*codec = NULL;
	*s = NULL;
	*img = NULL;
	if (b->len < 4 || b->data[0] != 0xFF || b->data[1] != 0x4F || b->data[2] != 0xFF || b->data[3] != 0x51)
		return fail(m, OHI_J2K_CORRUPT, "not a JPEG 2000 codestream (no SOC and SIZ markers)");
	*codec = opj_create_decompress(OPJ_CODEC_J2K);
	if (*codec == NULL)
		return fail(m, OHI_J2K_NOMEM, "cannot create the decoder");
	quiet_codec(*codec, m);
	opj_dparameters_t dp;
	opj_set_default_decoder_parameters(&dp);
	dp.cp_reduce = reduce;
	if (!opj_setup_decoder(*codec, &dp))
		return fail(m, OHI_J2K_UNSUPPORTED, "decoder setup failed");
	opj_decoder_set_strict_mode(*codec, OPJ_TRUE);
	opj_codec_set_threads(*codec, 0);
	*s = in_stream(b);
	if (*s == NULL)
		return fail(m, OHI_J2K_NOMEM, "cannot create the input stream");
	if (!opj_read_header(*s, *codec, img) || *img == NULL)
		return fail(m, OHI_J2K_CORRUPT, "cannot read the codestream header");
	return OHI_J2K_OK;
}

static void close_decoder(opj_codec_t *codec, opj_stream_t *s, opj_image_t *img) {
	if (img)
		opj_image_destroy(img);
	if (s)
		opj_stream_destroy(s);
	if (codec)
		opj_destroy_codec(codec);
}

int ohi_j2k_read_header(const uint8_t *cs, size_t len, ohi_j2k_header *hdr,
                        char *err, size_t errlen) {
	messages m;
	msg_init(&m, err, errlen);
	memset(hdr, 0, sizeof *hdr);
	in_buf b = {cs, len, 0};
	opj_codec_t *codec;
	opj_stream_t *s;
	opj_image_t *img;
	int st = open_decoder(&b, 0, &m, &codec, &s, &img);
	if (st != OHI_J2K_OK) {
		close_decoder(codec, s, img);
		return st;
	}
	hdr->x0 = img->x0;
	hdr->y0 = img->y0;
	hdr->x1 = img->x1;
	hdr->y1 = img->y1;
	hdr->components = img->numcomps;
	if (img->numcomps > 0 && img->comps) {
		hdr->precision = img->comps[0].prec;
		hdr->is_signed = img->comps[0].sgnd ? 1 : 0;
		hdr->uniform = 1;
		for (uint32_t c = 0; c < img->numcomps; c++) {
			const opj_image_comp_t *k = &img->comps[c];
			if (k->prec != hdr->precision || (k->sgnd != 0) != (hdr->is_signed != 0) || k->dx != 1 || k->dy != 1)
				hdr->uniform = 0;
		}
	}
	opj_codestream_info_v2_t *info = opj_get_cstr_info(codec);
	if (info == NULL) {
		close_decoder(codec, s, img);
		return fail(&m, OHI_J2K_NOMEM, "cannot read the coding style");
	}
	hdr->tiles = info->tw * info->th;
	hdr->reversible = 1;
	hdr->decompositions = 0;
	if (info->m_default_tile_info.tccp_info != NULL && info->nbcomps == img->numcomps && info->nbcomps > 0) {
		uint32_t least = 0;
		for (uint32_t c = 0; c < info->nbcomps; c++) {
			const opj_tccp_info_t *t = &info->m_default_tile_info.tccp_info[c];
			if (t->qmfbid != 1)
				hdr->reversible = 0;
			if (c == 0 || t->numresolutions < least)
				least = t->numresolutions;
		}
		hdr->decompositions = least > 0 ? least - 1 : 0;
	} else {
		hdr->reversible = 0;
	}
	opj_destroy_cstr_info(&info);
	close_decoder(codec, s, img);
	return OHI_J2K_OK;
}

static void put_sample(uint8_t *p, uint32_t bps, OPJ_INT32 v) {
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	if (bps >= 2)
		p[1] = (uint8_t)(u >> 8);
	if (bps == 4) {
		p[2] = (uint8_t)(u >> 16);
		p[3] = (uint8_t)(u >> 24);
	}
}

int ohi_j2k_decode(const uint8_t *cs, size_t len, uint32_t reduce, uint32_t w,
                   uint32_t h, uint32_t comps, uint32_t bps, uint8_t *out,
                   size_t out_len, char *err, size_t errlen) {
	messages m;
	msg_init(&m, err, errlen);
	if ((bps != 1 && bps != 2 && bps != 4) || (uint64_t)w * h * comps * bps != out_len)
		return fail(&m, OHI_J2K_UNSUPPORTED, "bad output buffer");
	in_buf b = {cs, len, 0};
	opj_codec_t *codec;
	opj_stream_t *s;
	opj_image_t *img;
	int st = open_decoder(&b, reduce, &m, &codec, &s, &img);
	if (st != OHI_J2K_OK)
		goto done;
	if (img->numcomps != comps) {
		st = fail(&m, OHI_J2K_CORRUPT, "unexpected number of components");
		goto done;
	}
	if (!opj_decode(codec, s, img) || !opj_end_decompress(codec, s)) {
		st = fail(&m, OHI_J2K_CORRUPT, "decoding failed");
		goto done;
	}
	for (uint32_t c = 0; c < comps; c++) {
		const opj_image_comp_t *k = &img->comps[c];
		if (k->w != w || k->h != h || k->data == NULL || k->prec < 1 || k->prec > 8 * bps) {
			st = fail(&m, OHI_J2K_CORRUPT, "decoded image does not have the expected size");
			goto done;
		}
	}
	size_t n = (size_t)w * h;
	for (uint32_t c = 0; c < comps; c++) {
		const OPJ_INT32 *d = img->comps[c].data;
		uint8_t *o = out + (size_t)c * bps;
		size_t step = (size_t)comps * bps;
		for (size_t i = 0; i < n; i++, o += step)
			put_sample(o, bps, d[i]);
	}
done:
	close_decoder(codec, s, img);
	return st;
}
