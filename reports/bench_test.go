package reports

import (
	"io"
	"testing"
)

// BenchmarkReports10k renders the workbook and the PDF of 10,000 partners
// (the fixture's partners repeated, about half of them failing).
func BenchmarkReports10k(b *testing.B) {
	res := bigResults(b, 10000)
	opts := Options{NoFontSearch: true}
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteXLSX(io.Discard, res, opts); err != nil {
			b.Fatal(err)
		}
		if err := WritePDF(io.Discard, res, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXLSX10k(b *testing.B) {
	res := bigResults(b, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteXLSX(io.Discard, res, Options{NoFontSearch: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPDF10k(b *testing.B) {
	res := bigResults(b, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if err := WritePDF(io.Discard, res, Options{NoFontSearch: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPartnerPDF renders one per-partner PDF (--per-partner writes one per partner).
func BenchmarkPartnerPDF(b *testing.B) {
	res := loadFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := PartnerPDF(io.Discard, res, "Сбербанк", Options{NoFontSearch: true}); err != nil {
			b.Fatal(err)
		}
	}
}
