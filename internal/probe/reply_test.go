package probe

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		code    int
		lines   []string
		wantErr error
	}{
		{"single", "220 mx.example ESMTP\r\n", 220, []string{"mx.example ESMTP"}, nil},
		{"bare LF", "220 hi\n", 220, []string{"hi"}, nil},
		{"code only", "250\r\n", 250, []string{""}, nil},
		{"multi", "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n", 250, []string{"mx.example", "PIPELINING", "STARTTLS"}, nil},
		{"multi greeting", "220-mx.example ESMTP\r\n220-second line\r\n220 ready\r\n", 220, []string{"mx.example ESMTP", "second line", "ready"}, nil},
		{"mixed codes", "250-a\r\n251 b\r\n", 0, nil, ErrMalformedReply},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\r\n", 0, nil, ErrMalformedReply},
		{"no code", "hello there\r\n", 0, nil, ErrMalformedReply},
		{"code out of range", "999 no\r\n", 0, nil, ErrMalformedReply},
		{"bad separator", "250_x\r\n", 0, nil, ErrMalformedReply},
		{"too long", "250 " + strings.Repeat("x", 5000) + "\r\n", 0, nil, ErrLineTooLong},
		{"endless", strings.Repeat("250-x\r\n", 200), 0, nil, ErrTooManyLines},
		{"cut off", "250-a\r\n250-b", 0, nil, ErrMalformedReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tt.in), MaxLineLength)
			rep, err := ReadReply(r, MaxReplyLines)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Code != tt.code || !reflect.DeepEqual(rep.Lines, tt.lines) {
				t.Errorf("got %d %q, want %d %q", rep.Code, rep.Lines, tt.code, tt.lines)
			}
		})
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"220 mx.example ESMTP\r\n",
		"250-mx.example\r\n250-STARTTLS\r\n250 SIZE 1000\r\n",
		"250-a\r\n251 b\r\n",
		"220\r\n",
		"554 5.7.1 go away\n",
		"\x00\xff\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(b)), 64)
		rep, err := ReadReply(r, 5)
		if err == nil {
			if rep.Code < 200 || rep.Code > 599 || len(rep.Lines) == 0 || len(rep.Lines) > 5 {
				t.Fatalf("accepted reply %+v", rep)
			}
		}
		if len(rep.Lines) > 5 || len(rep.Raw) > 5 {
			t.Fatalf("read %d lines past the limit", len(rep.Lines))
		}
	})
}
