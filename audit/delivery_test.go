package audit

import "testing"

func TestDeliveryGroups(t *testing.T) {
	d := func(src, o, wo, wp string) *Delivery {
		return &Delivery{Outcome: o, MTA: "Postfix", Policy: "verify", Source: src, WhatIfOutcome: wo, WhatIfPolicy: wp}
	}
	partners := []Result{
		{Delivery: d("/etc/postfix/tls_policy:3", Delivers, Deferred, "secure")},
		{Delivery: d("/etc/postfix/tls_policy:4", Deferred, Deferred, "secure")},
		{Delivery: d("/etc/postfix/tls_policy:5", DeliversUnauthenticated, Deferred, "secure")},
		{Delivery: d("/etc/postfix/tls_policy:6", Delivers, Delivers, "secure")},
		{Delivery: d("", Bounces, "", "")},
		{},
	}
	got := DeliveryGroups(partners)
	if len(got) != 2 {
		t.Fatalf("groups %+v, want the policy map and Postfix's main.cf default", got)
	}
	cases := []struct {
		name string
		g    DeliveryGroup
		want string
	}{
		{"policy map", got[0], "/etc/postfix/tls_policy: 4 partners; mail to 1 is deferred today, 1 delivered without authentication; 2 would stop under secure; 1 pass secure already"},
		{"no file", got[1], "Postfix: 1 partner; mail to 1 bounces"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if s := tc.g.String(); s != tc.want {
				t.Errorf("got  %q\nwant %q", s, tc.want)
			}
		})
	}
}

func TestWorstDelivery(t *testing.T) {
	ts := []TargetResult{
		{MX: "mx1.example", Port: 25, Delivery: &Delivery{Outcome: Delivers}},
		{MX: "mx2.example", Port: 25, Delivery: &Delivery{Outcome: Deferred}},
		{MX: "mx3.example", Port: 25},
	}
	w := WorstDelivery(ts)
	if w == nil || w.Outcome != Deferred || w.Target != "mx2.example:25" {
		t.Errorf("worst %+v, want mx2's deferred", w)
	}
	if ts[1].Delivery.Target != "" {
		t.Error("WorstDelivery changed the target's own delivery")
	}
}
