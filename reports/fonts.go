package reports

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// DejaVu Sans (Bitstream Vera licence, see fonts/LICENSE.DejaVu) covers
// Latin, Greek and Cyrillic; it has no CJK glyphs.
var (
	//go:embed fonts/DejaVuSans.ttf
	dejaVuSans []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	dejaVuSansBold []byte
)

// Font is a TrueType font for the PDF reports together with the runes it covers.
type Font struct {
	Name  string // file it was read from, for messages
	Data  []byte
	cover *coverage
	adv   []uint16 // advance width in 1/1000 em of each rune below 0x10000, 0 when unmapped
	advHi uint16   // advance width used for mapped runes above the BMP
}

// width returns the advance width of r in 1/1000 em.
func (f *Font) width(r rune) int {
	if r >= 0 && int(r) < len(f.adv) {
		return int(f.adv[r])
	}
	return int(f.advHi)
}

// Covers reports whether the font has a glyph for r.
func (f *Font) Covers(r rune) bool { return f != nil && f.cover.has(r) }

// ErrNotTrueType is returned for fonts the PDF library cannot embed: CFF-flavoured OpenType and TrueType collections.
var ErrNotTrueType = errors.New("not a TrueType font (.ttf with glyf outlines)")

// LoadFont reads a TrueType font file, as given with --font.
func LoadFont(path string) (*Font, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("font: %w", err)
	}
	f, err := ParseFont(path, b)
	if err != nil {
		return nil, fmt.Errorf("font %s: %w", path, err)
	}
	return f, nil
}

// ParseFont reads the character map of a TrueType font held in data.
func ParseFont(name string, data []byte) (*Font, error) {
	if len(data) < 12 {
		return nil, ErrNotTrueType
	}
	switch string(data[:4]) {
	case "\x00\x01\x00\x00", "true":
	case "ttcf":
		return nil, fmt.Errorf("%w: a TrueType collection (.ttc) cannot be embedded by the PDF library; use a .ttf such as Debian's fonts-droid-fallback", ErrNotTrueType)
	case "OTTO":
		return nil, fmt.Errorf("%w: OpenType with CFF outlines", ErrNotTrueType)
	default:
		return nil, ErrNotTrueType
	}
	tables, err := tableDir(data)
	if err != nil {
		return nil, err
	}
	head, hhea, hmtx := tables["head"], tables["hhea"], tables["hmtx"]
	if len(head) < 20 || len(hhea) < 36 {
		return nil, fmt.Errorf("%w: no head or hhea table", errBadFont)
	}
	be := binary.BigEndian
	upem := float64(be.Uint16(head[18:]))
	nh := int(be.Uint16(hhea[34:]))
	if upem == 0 || nh == 0 || len(hmtx) < 4*nh {
		return nil, fmt.Errorf("%w: bad hmtx", errBadFont)
	}
	advance := func(g uint16) uint16 {
		i := min(int(g), nh-1)
		return uint16(float64(be.Uint16(hmtx[4*i:]))*1000/upem + 0.5)
	}
	f := &Font{Name: name, Data: data, cover: new(coverage), adv: make([]uint16, 0x10000)}
	err = parseCmap(tables["cmap"], func(r uint32, g uint16) {
		f.cover.set(r)
		if r < 0x10000 {
			f.adv[r] = advance(g)
		} else if f.advHi == 0 {
			f.advHi = advance(g)
		}
	})
	if err != nil {
		return nil, err
	}
	if f.advHi == 0 {
		f.advHi = advance(0)
	}
	return f, nil
}

// tableDir returns the tables of a TrueType font by tag.
func tableDir(b []byte) (map[string][]byte, error) {
	be := binary.BigEndian
	n := int(be.Uint16(b[4:]))
	out := map[string][]byte{}
	for i := 0; i < n; i++ {
		rec := 12 + 16*i
		if rec+16 > len(b) {
			return nil, errBadFont
		}
		off, l := int(be.Uint32(b[rec+8:])), int(be.Uint32(b[rec+12:]))
		if off < 0 || l < 0 || off+l > len(b) {
			return nil, errBadFont
		}
		out[string(b[rec:rec+4])] = b[off : off+l]
	}
	return out, nil
}

// coverage is a bitset of the runes below maxCovered that a font maps to a glyph.
type coverage [maxCovered / 64]uint64

const maxCovered = 0x30000

func (c *coverage) has(r rune) bool {
	return r >= 0 && r < maxCovered && c[r/64]&(1<<(uint(r)%64)) != 0
}

func (c *coverage) set(r uint32) {
	if r < maxCovered {
		c[r/64] |= 1 << (r % 64)
	}
}

var errBadFont = errors.New("malformed TrueType font")

// parseCmap walks the Unicode subtable (format 4 or 12) of a TrueType
// font's cmap table and calls fn for every rune mapped to a glyph.
func parseCmap(cmap []byte, fn func(r uint32, glyph uint16)) error {
	be := binary.BigEndian
	if len(cmap) < 4 {
		return fmt.Errorf("%w: no cmap table", errBadFont)
	}
	// Pick the best Unicode subtable: full repertoire (format 12) over BMP (format 4).
	best, bestScore := -1, 0
	for i := 0; i < int(be.Uint16(cmap[2:])); i++ {
		rec := 4 + 8*i
		if rec+8 > len(cmap) {
			return errBadFont
		}
		pid, eid, off := be.Uint16(cmap[rec:]), be.Uint16(cmap[rec+2:]), int(be.Uint32(cmap[rec+4:]))
		if off+2 > len(cmap) {
			continue
		}
		format := be.Uint16(cmap[off:])
		score := 0
		switch {
		case format == 12 && (pid == 0 || pid == 3 && eid == 10):
			score = 2
		case format == 4 && (pid == 0 || pid == 3 && eid == 1):
			score = 1
		}
		if score > bestScore {
			best, bestScore = off, score
		}
	}
	if best < 0 {
		return fmt.Errorf("%w: no Unicode cmap subtable", errBadFont)
	}
	t := cmap[best:]
	if bestScore == 2 {
		if len(t) < 16 {
			return errBadFont
		}
		groups := int(be.Uint32(t[12:]))
		if 16+12*groups > len(t) {
			return errBadFont
		}
		for g := 0; g < groups; g++ {
			p := t[16+12*g:]
			start, end, glyph := be.Uint32(p), be.Uint32(p[4:]), be.Uint32(p[8:])
			for c := start; c <= end && c < maxCovered; c++ {
				if g := glyph + (c - start); g != 0 && g < 0x10000 {
					fn(c, uint16(g))
				}
			}
		}
		return nil
	}
	if len(t) < 14 {
		return errBadFont
	}
	segX2 := int(be.Uint16(t[6:]))
	ends, starts := 14, 16+segX2
	deltas, ranges := starts+segX2, starts+2*segX2
	if ranges+segX2 > len(t) {
		return errBadFont
	}
	for s := 0; s < segX2/2; s++ {
		end, start := uint32(be.Uint16(t[ends+2*s:])), uint32(be.Uint16(t[starts+2*s:]))
		delta, ro := be.Uint16(t[deltas+2*s:]), int(be.Uint16(t[ranges+2*s:]))
		for c := start; c <= end && c != 0xFFFF; c++ {
			var glyph uint16
			if ro == 0 {
				glyph = uint16(c) + delta
			} else {
				at := ranges + 2*s + ro + 2*int(c-start)
				if at+2 > len(t) {
					continue
				}
				if g := be.Uint16(t[at:]); g != 0 {
					glyph = g + delta
				}
			}
			if glyph != 0 {
				fn(c, glyph)
			}
		}
	}
	return nil
}

// FontDirs returns the usual system font folders of this operating system.
func FontDirs() []string {
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		return []string{filepath.Join(os.Getenv("WINDIR"), "Fonts"), filepath.Join(os.Getenv("LOCALAPPDATA"), "Microsoft", "Windows", "Fonts")}
	case "darwin":
		return []string{"/Library/Fonts", "/System/Library/Fonts", filepath.Join(home, "Library", "Fonts")}
	}
	return []string{"/usr/share/fonts", "/usr/local/share/fonts", filepath.Join(home, ".local", "share", "fonts"), filepath.Join(home, ".fonts")}
}

// preferredCJK are TrueType (not .ttc) fonts with CJK glyphs, best first:
// Debian's fonts-droid-fallback, fonts-ipafont-gothic/-mincho, then Windows and macOS ones.
var preferredCJK = []string{
	"DroidSansFallbackFull.ttf", "DroidSansFallback.ttf", "ipag.ttf", "ipagp.ttf", "ipam.ttf",
	"ipaexg.ttf", "msgothic.ttf", "simhei.ttf", "Arial Unicode.ttf", "NotoSansCJK-Regular.ttf",
}

// cjkProbe is the rune a found font must cover to count as a CJK font (株, as in 株式会社).
const cjkProbe = '株'

// FindCJKFont looks in dirs for a TrueType font covering CJK: a preferred
// file name first, then any .ttf that covers 株. It returns nil when there is none.
func FindCJKFont(dirs []string) *Font {
	var ttfs []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.EqualFold(filepath.Ext(p), ".ttf") {
				ttfs = append(ttfs, p)
			}
			return nil
		})
	}
	try := func(p string) *Font {
		f, err := LoadFont(p)
		if err != nil || !f.Covers(cjkProbe) {
			return nil
		}
		return f
	}
	for _, name := range preferredCJK {
		for _, p := range ttfs {
			if strings.EqualFold(filepath.Base(p), name) {
				if f := try(p); f != nil {
					return f
				}
			}
		}
	}
	for _, p := range ttfs {
		if st, err := os.Stat(p); err == nil && st.Size() > 1<<20 { // CJK fonts are big; skip the rest unread
			if f := try(p); f != nil {
				return f
			}
		}
	}
	return nil
}

var (
	systemCJKOnce sync.Once
	systemCJK     *Font
)

// SystemCJKFont returns FindCJKFont(FontDirs()), searched once per process.
func SystemCJKFont() *Font {
	systemCJKOnce.Do(func() { systemCJK = FindCJKFont(FontDirs()) })
	return systemCJK
}

var (
	baseOnce      sync.Once
	baseRegular   *Font
	baseBold      *Font
	baseFontError error
)

// baseFonts returns the embedded DejaVu Sans regular and bold.
func baseFonts() (*Font, *Font, error) {
	baseOnce.Do(func() {
		baseRegular, baseFontError = ParseFont("DejaVuSans.ttf", dejaVuSans)
		if baseFontError == nil {
			baseBold, baseFontError = ParseFont("DejaVuSans-Bold.ttf", dejaVuSansBold)
		}
	})
	return baseRegular, baseBold, baseFontError
}
