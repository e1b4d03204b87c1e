package ts

import (
	"errors"
	"net/netip"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func sel(proto uint8, sp, ep uint16, start, end string) Selector {
	s := Selector{Proto: proto, StartPort: sp, EndPort: ep}
	if start != "" {
		s.Start, s.End = mustAddr(start), mustAddr(end)
	}
	return s
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Selector
		str  string // String() of the result; "" means same as in
	}{
		{"10.1.0.0/24", sel(0, 0, 65535, "10.1.0.0", "10.1.0.255"), ""},
		{"10.1.0.5", sel(0, 0, 65535, "10.1.0.5", "10.1.0.5"), "10.1.0.5/32"},
		{"10.1.0.5/24", sel(0, 0, 65535, "10.1.0.0", "10.1.0.255"), "10.1.0.0/24"},
		{"0.0.0.0/0", sel(0, 0, 65535, "0.0.0.0", "255.255.255.255"), ""},
		{"%any", sel(0, 0, 65535, "0.0.0.0", "255.255.255.255"), "0.0.0.0/0"},
		{"%any4", sel(0, 0, 65535, "0.0.0.0", "255.255.255.255"), "0.0.0.0/0"},
		{"%any6", sel(0, 0, 65535, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "::/0"},
		{"10.1.0.0/24[tcp/443]", sel(6, 443, 443, "10.1.0.0", "10.1.0.255"), ""},
		{"10.1.0.0/24[tcp/1024-2048]", sel(6, 1024, 2048, "10.1.0.0", "10.1.0.255"), ""},
		{"10.1.0.0/24[udp]", sel(17, 0, 65535, "10.1.0.0", "10.1.0.255"), ""},
		{"10.0.0.0/8[tcp/http]", sel(6, 80, 80, "10.0.0.0", "10.255.255.255"), "10.0.0.0/8[tcp/80]"},
		{"10.0.0.0/8[TCP/HTTPS]", sel(6, 443, 443, "10.0.0.0", "10.255.255.255"), "10.0.0.0/8[tcp/443]"},
		{"10.0.0.0/8[17/53]", sel(17, 53, 53, "10.0.0.0", "10.255.255.255"), "10.0.0.0/8[udp/53]"},
		{"10.0.0.0/8[99]", sel(99, 0, 65535, "10.0.0.0", "10.255.255.255"), ""},
		{"10.0.0.0/8[any]", sel(0, 0, 65535, "10.0.0.0", "10.255.255.255"), "10.0.0.0/8"},
		{"10.0.0.0/8[any/80]", sel(0, 80, 80, "10.0.0.0", "10.255.255.255"), ""},
		{"10.0.0.0/8[/80]", sel(0, 80, 80, "10.0.0.0", "10.255.255.255"), "10.0.0.0/8[any/80]"},
		{"10.0.0.0/8[tcp/any]", sel(6, 0, 65535, "10.0.0.0", "10.255.255.255"), "10.0.0.0/8[tcp]"},
		{"10.0.0.0/8[udp/opaque]", sel(17, 65535, 0, "10.0.0.0", "10.255.255.255"), ""},
		{"10.0.0.0/8[sctp/5000]", sel(132, 5000, 5000, "10.0.0.0", "10.255.255.255"), ""},
		// ICMP type in the high octet (RFC 7296 3.13.1), as strongSwan stores it.
		{"10.0.0.0/8[icmp/8]", sel(1, 0x0800, 0x0800, "10.0.0.0", "10.255.255.255"), ""},
		{"10.0.0.0/8[icmp/3-4]", sel(1, 0x0300, 0x0400, "10.0.0.0", "10.255.255.255"), ""},
		{"10.0.0.0/8[icmp/2049]", sel(1, 0x0801, 0x0801, "10.0.0.0", "10.255.255.255"), ""},
		{"fec0::/64[icmpv6/128]", sel(58, 0x8000, 0x8000, "fec0::", "fec0::ffff:ffff:ffff:ffff"), ""},
		{"fec0::/64[ipv6-icmp]", sel(58, 0, 65535, "fec0::", "fec0::ffff:ffff:ffff:ffff"), "fec0::/64[icmpv6]"},
		{"fec0::/64[tcp/80-90]", sel(6, 80, 90, "fec0::", "fec0::ffff:ffff:ffff:ffff"), ""},
		{"fec0::1", sel(0, 0, 65535, "fec0::1", "fec0::1"), "fec0::1/128"},
		{"10.0.0.1-10.0.0.5", sel(0, 0, 65535, "10.0.0.1", "10.0.0.5"), "10.0.0.1..10.0.0.5"},
		{"10.0.0.1..10.0.0.5[udp/500]", sel(17, 500, 500, "10.0.0.1", "10.0.0.5"), ""},
		{"10.0.0.0-10.0.0.255", sel(0, 0, 65535, "10.0.0.0", "10.0.0.255"), "10.0.0.0/24"},
		{"fec0::1-fec0::ff", sel(0, 0, 65535, "fec0::1", "fec0::ff"), "fec0::1..fec0::ff"},
		{"dynamic", sel(0, 0, 65535, "", ""), ""},
		{"dynamic[tcp/443]", sel(6, 443, 443, "", ""), ""},
		{"[udp]", sel(17, 0, 65535, "", ""), "dynamic[udp]"},
		{"  10.1.0.0/16 ", sel(0, 0, 65535, "10.1.0.0", "10.1.255.255"), "10.1.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if s := got.String(); s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
			back, err := Parse(got.String())
			if err != nil || back != got {
				t.Errorf("Parse(String()) = %v, %v; want %v", back, err, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"10.1.0.0/33",
		"10.1.0",
		"10.1.0.0/24[",
		"10.1.0.0/24]",
		"10.1.0.0/24[tcp",
		"10.1.0.0/24[tcp]x",
		"10.1.0.0/24[[tcp]]",
		"10.1.0.0/24[foo]",
		"10.1.0.0/24[256]",
		"10.1.0.0/24[-1]",
		"10.1.0.0/24[tcp/65536]",
		"10.1.0.0/24[tcp/-5]",
		"10.1.0.0/24[tcp/90-80]",
		"10.1.0.0/24[tcp/80-]",
		"10.1.0.0/24[tcp/nosuchservice]",
		"10.1.0.0/24[tcp/0x50]",
		"10.0.0.5-10.0.0.1",
		"10.0.0.1-fec0::1",
		"10.0.0.1-",
		"fe80::1%eth0",
		"fe80::1%eth0-fe80::2",
		"example.com",
		"%anything",
		"dynamic/24",
		"",
		"  ",
	} {
		if s, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want error", in, s)
		} else if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", in, err)
		}
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList("10.1.0.0/24, 10.2.0.0/24[tcp]")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].String() != "10.1.0.0/24" || got[1].String() != "10.2.0.0/24[tcp]" {
		t.Fatalf("ParseList = %v", got)
	}
	if _, err := ParseList("10.1.0.0/24,,"); err == nil {
		t.Fatal("ParseList with empty item: want error")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"10.1.0.0/24", "10.1.0.5", "10.1.0.0/24[tcp/443]", "10.1.0.0/24[tcp/1024-2048]",
		"[udp]", "fec0::/64[tcp/80-90]", "dynamic[icmp/8]", "10.0.0.1-10.0.0.5[udp/opaque]",
		"%any6[sctp]", "10.0.0.0/8[tcp/http]", "1.2.3.4..1.2.3.3", "[/]", "[", "]", "-", "..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		if !sel.IsDynamic() && !sel.Valid() {
			t.Fatalf("Parse(%q) returned invalid selector %#v", s, sel)
		}
		out := sel.String()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, out, err)
		}
		if back != sel {
			t.Fatalf("round trip %q -> %q -> %#v, want %#v", s, out, back, sel)
		}
		_ = sel.Prefixes()
	})
}
