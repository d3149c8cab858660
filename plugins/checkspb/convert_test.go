package checkspb_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"google.golang.org/protobuf/proto"
)

// fill sets every field reachable from v to a distinct non-zero value, so a
// field added to the audit model but not to the wire format fails the test.
func fill(t *testing.T, v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)) + string(rune('a'+*n/26%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{byte(*n), 1, 2})
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, n)
		fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, *n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: unhandled kind %s", v.Kind())
	}
}

func TestResultRoundTrip(t *testing.T) {
	var in audit.Result
	n := 0
	fill(t, reflect.ValueOf(&in).Elem(), &n)
	// Findings carry check, severity, message, remedy; all are strings.
	b, err := proto.Marshal(checkspb.EncodeResult(&in))
	if err != nil {
		t.Fatal(err)
	}
	var wire checkspb.Result
	if err := proto.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if out := checkspb.DecodeResult(&wire); !reflect.DeepEqual(in, out) {
		t.Errorf("round trip lost data:\n in: %+v\nout: %+v", in, out)
	}
}

func TestPrivateRootRoundTrip(t *testing.T) {
	var in audit.PrivateRoot
	n := 0
	fill(t, reflect.ValueOf(&in).Elem(), &n)
	in.Findings = nil // findings flow back from checks, not to them
	if out := checkspb.DecodePrivateRoot(checkspb.EncodePrivateRoot(&in)); !reflect.DeepEqual(in, out) {
		t.Errorf("round trip lost data:\n in: %+v\nout: %+v", in, out)
	}
}

func TestZeroTimes(t *testing.T) {
	if checkspb.Timestamp(time.Time{}) != nil || !checkspb.Time(nil).IsZero() {
		t.Error("the zero time must travel as nil and come back as the zero time")
	}
}

func TestThresholdsRoundTrip(t *testing.T) {
	var in audit.Thresholds
	n := 0
	fill(t, reflect.ValueOf(&in).Elem(), &n)
	b, err := proto.Marshal(checkspb.EncodeThresholds(in))
	if err != nil {
		t.Fatal(err)
	}
	var wire checkspb.Thresholds
	if err := proto.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if out := checkspb.DecodeThresholds(&wire); out != in {
		t.Errorf("round trip lost data: in %+v, out %+v", in, out)
	}
	// A zero threshold in a present message is a zero, not a default.
	zero := audit.DefaultThresholds()
	zero.ExpiryErrorDays = 0
	if out := checkspb.DecodeThresholds(checkspb.EncodeThresholds(zero)); out != zero {
		t.Errorf("expiry_error_days = 0 came back as %+v", out)
	}
	if out := checkspb.DecodeThresholds(nil); out != audit.DefaultThresholds() {
		t.Errorf("no thresholds on the wire: %+v, want the defaults", out)
	}
}
