package policy

import (
	"bytes"
	"mime"
	"net/http"
	"slices"
)

// magic is one archive signature net/http.DetectContentType does not know
// (it knows zip, gzip and rar), at an offset.
type magic struct {
	offset    int
	sig       []byte
	mediaType string
}

// archiveMagic is checked before DetectContentType, so that every archive
// format has one media type.
var archiveMagic = []magic{
	{0, []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}, "application/x-7z-compressed"},
	{0, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}, "application/x-xz"},
	{0, []byte("BZh"), "application/x-bzip2"},
	{0, []byte{0x28, 0xB5, 0x2F, 0xFD}, "application/zstd"},
	{0, []byte("MSCF\x00\x00\x00\x00"), "application/vnd.ms-cab-compressed"},
	{0, []byte("Rar!\x1A\x07"), "application/x-rar-compressed"},
	{0, []byte("PK\x05\x06"), "application/zip"}, // an empty zip
	{0, []byte("PK\x07\x08"), "application/zip"}, // a spanned zip
	{0, []byte{0x1F, 0x9D}, "application/x-compress"},
	{0, []byte("\x60\xEA"), "application/x-arj"},
	{0, []byte("!<arch>\n"), "application/x-archive"},
	{257, []byte("ustar"), "application/x-tar"},
}

// archives are the media types that count as archives.
var archives = []string{
	"application/zip", "application/x-gzip", "application/gzip",
	"application/x-rar-compressed", "application/x-7z-compressed",
	"application/x-xz", "application/x-bzip2", "application/zstd",
	"application/vnd.ms-cab-compressed", "application/x-tar",
	"application/x-compress", "application/x-arj", "application/x-archive",
}

// IsArchive reports whether mediaType (as Sniff returns it) is an archive.
func IsArchive(mediaType string) bool { return slices.Contains(archives, mediaType) }

// Sniff names the media type of content that starts with head (at most
// SniffLen bytes are looked at), from magic bytes only: a small table of
// archive signatures, then net/http.DetectContentType. Parameters such as
// charset are dropped.
func Sniff(head []byte) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	for _, m := range archiveMagic {
		if len(head) >= m.offset+len(m.sig) && bytes.Equal(head[m.offset:m.offset+len(m.sig)], m.sig) {
			return m.mediaType
		}
	}
	mt, _, err := mime.ParseMediaType(http.DetectContentType(head))
	if err != nil {
		return "application/octet-stream"
	}
	return mt
}

// Head captures the first SniffLen bytes of a stream as it passes, so the
// bytes the scanner already reads are also the ones sniffed: no second
// read of the object and nothing more buffered.
type Head struct {
	buf []byte
}

// Write keeps what still fits in the first SniffLen bytes; it never fails,
// so it can sit in an io.TeeReader or io.MultiWriter.
func (h *Head) Write(p []byte) (int, error) {
	if room := SniffLen - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes returns what was captured.
func (h *Head) Bytes() []byte { return h.buf }
