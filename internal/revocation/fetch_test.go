package revocation

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	s := newServer(t)
	s.bytes("/small", []byte("hello"))
	s.handle("/endless", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte{0x30}, 32<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up
			}
		}
	})
	s.handle("/announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(20<<20))
		w.WriteHeader(http.StatusOK) // the body never comes: it must not be awaited
	})
	s.handle("/error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	tests := []struct {
		name  string
		url   string
		limit int64
		opts  Options
		want  string
		err   error
		text  string
	}{
		{name: "small body", url: s.url("/small"), limit: 1024, want: "hello"},
		{name: "body exactly at the cap", url: s.url("/small"), limit: 5, want: "hello"},
		{name: "body one byte over the cap", url: s.url("/small"), limit: 4, err: ErrTooLarge},
		{name: "endless body is capped", url: s.url("/endless"), limit: MaxCRLBytes, err: ErrTooLarge, text: "more than 10485760 bytes"},
		{name: "announced oversize is refused unread", url: s.url("/announced"), limit: MaxCRLBytes, err: ErrTooLarge, text: "20971520 bytes announced"},
		{name: "HTTP error", url: s.url("/error"), limit: 1024, text: "HTTP 500 Internal Server Error"},
		{name: "ldap", url: "ldap:///CN=CRL", limit: 1024, err: ErrScheme},
		{name: "offline", url: s.url("/small"), limit: 1024, opts: Options{Offline: true}, err: ErrOffline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Timeout = 5 * time.Second
			f := NewFetcher(tc.opts)
			start := time.Now()
			b, err := f.Get(context.Background(), tc.url, tc.limit)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.err == nil && tc.text == "" {
				if err != nil || string(b) != tc.want {
					t.Fatalf("got %q, %v; want %q", b, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %d bytes, want an error", len(b))
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("err %v, want %v", err, tc.err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.text)) {
				t.Errorf("err %q lacks %q", err, tc.text)
			}
			var fe *FetchError
			if !tc.opts.Offline && !errors.As(err, &fe) {
				t.Errorf("err %v is not a *FetchError", err)
			}
		})
	}
}
