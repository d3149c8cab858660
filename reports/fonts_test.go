package reports

import (
	"errors"
	"testing"
)

func TestEmbeddedFontCoverage(t *testing.T) {
	reg, bold, err := baseFonts()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Font{reg, bold} {
		for _, r := range "AzüéßΩλЖщ€" {
			if !f.Covers(r) {
				t.Errorf("%s does not cover %q", f.Name, r)
			}
		}
		for _, r := range "株式会社" {
			if f.Covers(r) {
				t.Errorf("%s claims to cover %q", f.Name, r)
			}
		}
	}
	if !reg.Covers([]rune(placeholder)[0]) {
		t.Error("the placeholder itself is not in the embedded font")
	}
}

func TestParseFontRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"collection", append([]byte("ttcf"), make([]byte, 20)...)},
		{"cff", append([]byte("OTTO"), make([]byte, 20)...)},
		{"garbage", []byte("hello, this is not a font")},
		{"short", []byte("\x00\x01")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseFont(tt.name, tt.data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := ParseFont("c", append([]byte("ttcf"), make([]byte, 20)...)); !errors.Is(err, ErrNotTrueType) {
		t.Errorf("collection: %v, want ErrNotTrueType", err)
	}
}

func TestFindCJKFont(t *testing.T) {
	f := cjkFont(t) // skips (or fails under CI) without fonts-droid-fallback
	if !f.Covers('株') {
		t.Fatal("the test CJK font does not cover 株")
	}
	found := FindCJKFont([]string{"/usr/share/fonts"})
	if found == nil || !found.Covers('株') {
		t.Fatalf("FindCJKFont found %v", found)
	}
	if FindCJKFont([]string{t.TempDir()}) != nil {
		t.Error("found a CJK font in an empty folder")
	}
}
