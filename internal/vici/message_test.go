package vici

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// readmeExample is the "Encoding example" of strongSwan's
// src/libcharon/plugins/vici/README.md, byte for byte:
//
//	key1 = value1
//	section1 = {
//		sub-section = {
//			key2 = value2
//		}
//		list1 = [ item1, item2 ]
//	}
var readmeExample = []byte{
	/* key1 = value1 */
	3, 4, 'k', 'e', 'y', '1', 0, 6, 'v', 'a', 'l', 'u', 'e', '1',
	/* section1 */
	1, 8, 's', 'e', 'c', 't', 'i', 'o', 'n', '1',
	/* sub-section */
	1, 11, 's', 'u', 'b', '-', 's', 'e', 'c', 't', 'i', 'o', 'n',
	/* key2 = value2 */
	3, 4, 'k', 'e', 'y', '2', 0, 6, 'v', 'a', 'l', 'u', 'e', '2',
	/* sub-section end */
	2,
	/* list1 */
	4, 5, 'l', 'i', 's', 't', '1',
	/* item1 */
	5, 0, 5, 'i', 't', 'e', 'm', '1',
	/* item2 */
	5, 0, 5, 'i', 't', 'e', 'm', '2',
	/* list1 end */
	6,
	/* section1 end */
	2,
}

func readmeMessage(t testing.TB) *Message {
	t.Helper()
	sub := NewMessage()
	mustSet(t, sub, "key2", "value2")
	sec := NewMessage()
	mustSet(t, sec, "sub-section", sub)
	mustSet(t, sec, "list1", []string{"item1", "item2"})
	m := NewMessage()
	mustSet(t, m, "key1", "value1")
	mustSet(t, m, "section1", sec)
	return m
}

func mustSet(t testing.TB, m *Message, key string, v any) {
	t.Helper()
	if err := m.Set(key, v); err != nil {
		t.Fatalf("Set(%q, %v): %v", key, v, err)
	}
}

func TestEncodeReadmeExample(t *testing.T) {
	got, err := readmeMessage(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, readmeExample) {
		t.Fatalf("encoding differs from the README example\n got %v\nwant %v", got, readmeExample)
	}
}

func TestDecodeReadmeExample(t *testing.T) {
	var m Message
	if err := m.UnmarshalBinary(readmeExample); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Keys(), []string{"key1", "section1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
	if got := m.GetString("key1"); got != "value1" {
		t.Errorf("key1 = %q", got)
	}
	sec := m.GetSection("section1")
	if sec == nil {
		t.Fatal("section1 missing")
	}
	if got := sec.GetSection("sub-section").GetString("key2"); got != "value2" {
		t.Errorf("section1.sub-section.key2 = %q", got)
	}
	if got := sec.GetList("list1"); !reflect.DeepEqual(got, []string{"item1", "item2"}) {
		t.Errorf("section1.list1 = %q", got)
	}
	if got, want := m.String(), "{key1=value1 section1={sub-section={key2=value2} list1=[item1 item2]}}"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	deep := NewMessage()
	mustSet(t, deep, "leaf", "x")
	for i := 0; i < MaxDepth-1; i++ {
		up := NewMessage()
		mustSet(t, up, fmt.Sprintf("level%d", i), deep)
		deep = up
	}
	many := NewMessage()
	for i := 0; i < 100; i++ {
		mustSet(t, many, fmt.Sprintf("k%03d", 99-i), fmt.Sprint(i)) // not sorted: order must survive
	}
	blob := NewMessage()
	mustSet(t, blob, "bin", []byte{0, 1, 2, 0xff, '\n'})
	mustSet(t, blob, "", "empty key")
	mustSet(t, blob, "empty", "")
	mustSet(t, blob, "max", strings.Repeat("v", MaxValueLen))
	mustSet(t, blob, strings.Repeat("n", MaxNameLen), "longest name")

	conn := NewMessage()
	mustSet(t, conn, "local_addrs", []string{"192.0.2.1"})
	mustSet(t, conn, "remote_addrs", []string{})
	children := NewMessage()
	child := NewMessage()
	mustSet(t, child, "local_ts", []string{"10.1.0.0/24", "10.3.0.0/24"})
	mustSet(t, child, "esp_proposals", []string{"aes256gcm16"})
	mustSet(t, children, "net", child)
	mustSet(t, children, "empty", NewMessage())
	mustSet(t, conn, "children", children)
	mustSet(t, conn, "version", 2)
	loadConn := NewMessage()
	mustSet(t, loadConn, "site", conn)

	for name, m := range map[string]*Message{
		"empty":     NewMessage(),
		"readme":    readmeMessage(t),
		"load-conn": loadConn,
		"deepest":   deep,
		"many keys": many,
		"blobs":     blob,
	} {
		t.Run(name, func(t *testing.T) {
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Message
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !equalMessages(&got, m) {
				t.Fatalf("round trip changed the message\n got %s\nwant %s", &got, m)
			}
			b2, err := got.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

// equalMessages compares key order and values, treating nil and empty
// lists alike.
func equalMessages(a, b *Message) bool {
	if !reflect.DeepEqual(a.Keys(), b.Keys()) {
		return false
	}
	for _, k := range a.Keys() {
		switch av := a.Get(k).(type) {
		case string:
			if bv, ok := b.Get(k).(string); !ok || av != bv {
				return false
			}
		case []string:
			bv, ok := b.Get(k).([]string)
			if !ok || len(av) != len(bv) || (len(av) > 0 && !reflect.DeepEqual(av, bv)) {
				return false
			}
		case *Message:
			bv, ok := b.Get(k).(*Message)
			if !ok || !equalMessages(av, bv) {
				return false
			}
		}
	}
	return true
}

func TestSetValueTypes(t *testing.T) {
	m := NewMessage()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"s", "s"},
		{[]byte("b"), "b"},
		{true, "yes"},
		{false, "no"},
		{-7, "-7"},
		{int64(-1 << 62), "-4611686018427387904"},
		{uint8(255), "255"},
		{uint32(4500), "4500"},
		{uint64(1 << 63), "9223372036854775808"},
		{netip.MustParseAddr("192.0.2.1"), "192.0.2.1"},
	} {
		mustSet(t, m, "k", tc.v)
		if got := m.GetString("k"); got != tc.want {
			t.Errorf("Set(%T %v): got %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
	if m.Len() != 1 {
		t.Errorf("replacing a key added keys: %q", m.Keys())
	}

	list := []string{"a"}
	mustSet(t, m, "list", list)
	list[0] = "changed"
	if got := m.GetList("list"); got[0] != "a" {
		t.Error("Set kept a reference to the caller's slice")
	}

	for _, bad := range []any{nil, 1.5, (*Message)(nil), map[string]string{}, [][]byte{}} {
		if err := m.Set("bad", bad); err == nil {
			t.Errorf("Set(%T) succeeded", bad)
		}
	}
	if err := m.Set(strings.Repeat("k", MaxNameLen+1), "v"); err == nil {
		t.Error("Set accepted a 256-byte key")
	}
	if err := m.Set("k", strings.Repeat("v", MaxValueLen+1)); err == nil {
		t.Error("Set accepted a 65536-byte value")
	}
	if err := m.Set("k", []string{strings.Repeat("v", MaxValueLen+1)}); err == nil {
		t.Error("Set accepted a 65536-byte list item")
	}
	if m.Get("bad") != nil {
		t.Error("a failed Set stored a value")
	}
}

func TestKeyOrderAndDelete(t *testing.T) {
	m := NewMessage()
	for i := 0; i < 40; i++ { // crosses mapThreshold
		mustSet(t, m, fmt.Sprint("k", i), i)
	}
	mustSet(t, m, "k5", "replaced")
	m.Delete("k0")
	m.Delete("missing")
	keys := m.Keys()
	if len(keys) != 39 || keys[0] != "k1" || keys[4] != "k5" || keys[38] != "k39" {
		t.Fatalf("keys after replace/delete: %q", keys)
	}
	if m.GetString("k5") != "replaced" || m.GetString("k39") != "39" || m.Get("k0") != nil {
		t.Fatal("lookups after delete are wrong")
	}
}

func TestGettersOnWrongType(t *testing.T) {
	m := readmeMessage(t)
	if m.GetSection("nope").GetSection("deeper").GetString("x") != "" || m.GetSection("nope").Len() != 0 {
		t.Error("getters on a nil section must chain")
	}
	if m.GetString("section1") != "" || m.GetList("key1") != nil || m.GetSection("key1") != nil || m.GetString("nope") != "" {
		t.Error("typed getters must return zero values for other types")
	}
}

func TestMarshalRejectsCycle(t *testing.T) {
	m := NewMessage()
	mustSet(t, m, "self", m)
	if _, err := m.MarshalBinary(); err == nil {
		t.Fatal("a section containing itself was encoded")
	}
	_ = m.String() // must terminate
}

func TestMarshalRejectsTooDeep(t *testing.T) {
	if _, err := nested(MaxDepth).MarshalBinary(); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if _, err := nested(MaxDepth + 1).MarshalBinary(); err == nil {
		t.Fatalf("depth %d encoded", MaxDepth+1)
	}
}

func nested(depth int) *Message {
	m := NewMessage()
	for i := 0; i < depth; i++ {
		up := NewMessage()
		up.Set("s", m)
		m = up
	}
	return m
}

func nestedBytes(depth int) []byte {
	var b []byte
	for i := 0; i < depth; i++ {
		b = append(b, elemSectionStart, 1, 's')
	}
	for i := 0; i < depth; i++ {
		b = append(b, elemSectionEnd)
	}
	return b
}

// TestNoStrictPrefixOfReadmeExampleParses: only the prefix that ends after
// the first complete key/value is itself a message; every other strict
// prefix is truncated or leaves section1 open.
func TestNoStrictPrefixOfReadmeExampleParses(t *testing.T) {
	for n := 1; n < len(readmeExample); n++ {
		var m Message
		err := m.UnmarshalBinary(readmeExample[:n])
		if n == 14 {
			if err != nil {
				t.Errorf("prefix %d (key1 only): %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix of %d bytes: err = %v, want ErrMalformed", n, err)
		}
		if m.Len() != 0 {
			t.Errorf("prefix of %d bytes: failed decode left %d keys", n, m.Len())
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"element type 0", []byte{0}, "unknown element type 0"},
		{"element type 7", []byte{7}, "unknown element type 7"},
		{"element type 255", []byte{255, 0}, "unknown element type 255"},
		{"truncated name length", []byte{elemKeyValue}, "truncated name length"},
		{"truncated name", []byte{elemKeyValue, 4, 'k', 'e'}, "exceeds the message"},
		{"truncated value length", []byte{elemKeyValue, 1, 'k', 0}, "truncated value length"},
		{"truncated value", []byte{elemKeyValue, 1, 'k', 0, 3, 'v'}, "exceeds the message"},
		{"value length 0xffff", []byte{elemKeyValue, 1, 'k', 0xff, 0xff, 'v'}, "exceeds the message"},
		{"section end at root", []byte{elemSectionEnd}, "section end without a section"},
		{"extra section end", []byte{elemSectionStart, 1, 's', elemSectionEnd, elemSectionEnd}, "section end without a section"},
		{"unclosed section", []byte{elemSectionStart, 1, 's'}, "not closed"},
		{"unclosed inner section", []byte{elemSectionStart, 1, 's', elemSectionStart, 1, 't', elemSectionEnd}, "1 section(s) not closed"},
		{"unclosed list", []byte{elemListStart, 1, 'l', elemListItem, 0, 0}, "list \"l\" not closed"},
		{"list item at root", []byte{elemListItem, 0, 1, 'x'}, "list item outside a list"},
		{"list end at root", []byte{elemListEnd}, "list end outside a list"},
		{"nested list", []byte{elemListStart, 1, 'a', elemListStart, 1, 'b', elemListEnd, elemListEnd}, "inside list"},
		{"key/value in list", []byte{elemListStart, 1, 'a', elemKeyValue, 1, 'k', 0, 0, elemListEnd}, "inside list"},
		{"section in list", []byte{elemListStart, 1, 'a', elemSectionStart, 1, 's', elemSectionEnd, elemListEnd}, "inside list"},
		{"section end in list", []byte{elemSectionStart, 1, 's', elemListStart, 1, 'a', elemSectionEnd}, "section end inside list"},
		{"duplicate key", []byte{elemKeyValue, 1, 'k', 0, 0, elemKeyValue, 1, 'k', 0, 0}, "duplicate key \"k\""},
		{"duplicate list", []byte{elemKeyValue, 1, 'k', 0, 0, elemListStart, 1, 'k', elemListEnd}, "duplicate key"},
		{"duplicate section", []byte{elemListStart, 1, 'k', elemListEnd, elemSectionStart, 1, 'k', elemSectionEnd}, "duplicate key"},
		{"too deep", nestedBytes(MaxDepth + 1), "nested deeper than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := m.UnmarshalBinary(tc.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.msg)
			}
		})
	}
}

func TestDecodeAcceptsDepthLimitAndEmptyElements(t *testing.T) {
	for name, b := range map[string][]byte{
		"max depth":     nestedBytes(MaxDepth),
		"empty":         {},
		"empty list":    {elemListStart, 1, 'l', elemListEnd},
		"empty section": {elemSectionStart, 1, 's', elemSectionEnd},
		"empty names":   {elemKeyValue, 0, 0, 0, elemSectionStart, 1, 's', elemListStart, 0, elemListItem, 0, 0, elemListEnd, elemSectionEnd},
		"same key in different sections": {elemKeyValue, 1, 'k', 0, 0,
			elemSectionStart, 1, 's', elemKeyValue, 1, 'k', 0, 0, elemSectionEnd},
	} {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestUnmarshalReplacesContents(t *testing.T) {
	m := readmeMessage(t)
	if err := m.UnmarshalBinary([]byte{elemKeyValue, 1, 'x', 0, 1, 'y'}); err != nil {
		t.Fatal(err)
	}
	if got := m.Keys(); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("keys after UnmarshalBinary: %q", got)
	}
}

func BenchmarkMarshalReadme(b *testing.B) {
	m := readmeMessage(b)
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf, _ = m.AppendBinary(buf[:0])
	}
}

func BenchmarkUnmarshalReadme(b *testing.B) {
	for b.Loop() {
		var m Message
		if err := m.UnmarshalBinary(readmeExample); err != nil {
			b.Fatal(err)
		}
	}
}
