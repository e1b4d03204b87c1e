// Package vici implements strongSwan's Versatile IKE Control Interface
// (VICI): the message encoding, the packet layer and a server, as specified
// in strongSwan's src/libcharon/plugins/vici/README.md. swanctl, govici and
// the other VICI clients talk to goipsec through it.
//
// The layers, bottom up (README "Transport protocol", "Packet layer",
// "Message format"):
//
//	transport: 4-byte big-endian length | data (at most 512 KiB)
//	packet:    type (1 byte) | [name length (1 byte) | name] | [message]
//	message:   a sequence of elements (section, key/value, list)
package vici

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Message element types (README "Message format").
const (
	elemSectionStart = 1 // named: begins a sub-section
	elemSectionEnd   = 2 // closes the last opened section
	elemKeyValue     = 3 // named, with a value
	elemListStart    = 4 // named: begins a list
	elemListItem     = 5 // value only, inside a list
	elemListEnd      = 6 // closes the open list
)

const (
	// MaxDepth is the deepest section nesting accepted or produced. The
	// README allows arbitrary nesting; strongSwan's messages use fewer than
	// six levels, and a bound keeps hostile input from exhausting the stack.
	MaxDepth = 32
	// MaxNameLen is the longest key, section or list name: the name carries
	// an 8-bit length (README "Message format").
	MaxNameLen = 255
	// MaxValueLen is the longest key/value or list item value: a 16-bit
	// length prefix (README "Message format").
	MaxValueLen = 65535
)

// ErrMalformed is wrapped by every decoding error of a message or packet.
var ErrMalformed = errors.New("vici: malformed")

// mapThreshold is the key count above which a Message indexes its keys in
// a map; small messages (nearly all of them) scan the key slice instead.
const mapThreshold = 16

// Message is a VICI message: an ordered set of unique keys whose values are
// a string (key/value), a []string (list) or a *Message (section). Values
// are raw blobs on the wire; strongSwan encodes numbers as decimal strings
// and booleans as "yes"/"no" (README "Message format").
//
// The zero value is an empty message ready to use. A Message is not safe
// for concurrent modification.
type Message struct {
	keys  []string
	vals  []any          // parallel to keys: string, []string or *Message
	index map[string]int // key -> position, built once len(keys) > mapThreshold
}

// NewMessage returns an empty message.
func NewMessage() *Message { return &Message{} }

// Len returns the number of keys in m. Like the other read methods
// (Keys, Get and the typed getters) it treats a nil *Message as empty, so
// lookups chain: m.GetSection("site").GetString("version").
func (m *Message) Len() int {
	if m == nil {
		return 0
	}
	return len(m.keys)
}

// Keys returns m's keys in encoding order.
func (m *Message) Keys() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.keys...)
}

func (m *Message) find(key string) int {
	if m == nil {
		return -1
	}
	if m.index != nil {
		if i, ok := m.index[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range m.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// add appends a new key; it reports false if the key already exists
// (README "Key/Values": key names must be unique in a section).
func (m *Message) add(key string, v any) bool {
	if m.find(key) >= 0 {
		return false
	}
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, v)
	if m.index != nil {
		m.index[key] = len(m.keys) - 1
	} else if len(m.keys) > mapThreshold {
		m.index = make(map[string]int, 2*len(m.keys))
		for i, k := range m.keys {
			m.index[k] = i
		}
	}
	return true
}

// Set sets key to value, replacing an existing value in place (the key keeps
// its position) or appending the key. Accepted values: string, []byte (a
// blob), []string (a list), *Message (a section), bool ("yes"/"no"), any
// integer type (decimal), and fmt.Stringer. Keys longer than 255 bytes and
// values longer than 65535 bytes are rejected, as the encoding cannot carry
// them.
func (m *Message) Set(key string, value any) error {
	if len(key) > MaxNameLen {
		return fmt.Errorf("vici: key %.32q... longer than %d bytes", key, MaxNameLen)
	}
	var v any
	switch x := value.(type) {
	case string:
		v = x
	case []byte:
		v = string(x)
	case []string:
		v = append(make([]string, 0, len(x)), x...)
	case *Message:
		if x == nil {
			return fmt.Errorf("vici: key %q: nil *Message", key)
		}
		v = x
	case bool:
		v = "no"
		if x {
			v = "yes"
		}
	case int:
		v = strconv.FormatInt(int64(x), 10)
	case int8:
		v = strconv.FormatInt(int64(x), 10)
	case int16:
		v = strconv.FormatInt(int64(x), 10)
	case int32:
		v = strconv.FormatInt(int64(x), 10)
	case int64:
		v = strconv.FormatInt(x, 10)
	case uint:
		v = strconv.FormatUint(uint64(x), 10)
	case uint8:
		v = strconv.FormatUint(uint64(x), 10)
	case uint16:
		v = strconv.FormatUint(uint64(x), 10)
	case uint32:
		v = strconv.FormatUint(uint64(x), 10)
	case uint64:
		v = strconv.FormatUint(x, 10)
	case fmt.Stringer:
		v = x.String()
	default:
		return fmt.Errorf("vici: key %q: unsupported value type %T", key, value)
	}
	if err := checkValue(key, v); err != nil {
		return err
	}
	if i := m.find(key); i >= 0 {
		m.vals[i] = v
		return nil
	}
	m.add(key, v)
	return nil
}

func checkValue(key string, v any) error {
	switch x := v.(type) {
	case string:
		if len(x) > MaxValueLen {
			return fmt.Errorf("vici: key %q: value of %d bytes exceeds %d", key, len(x), MaxValueLen)
		}
	case []string:
		for _, item := range x {
			if len(item) > MaxValueLen {
				return fmt.Errorf("vici: key %q: list item of %d bytes exceeds %d", key, len(item), MaxValueLen)
			}
		}
	}
	return nil
}

// Delete removes key from m, if present.
func (m *Message) Delete(key string) {
	i := m.find(key)
	if i < 0 {
		return
	}
	m.keys = append(m.keys[:i], m.keys[i+1:]...)
	m.vals = append(m.vals[:i], m.vals[i+1:]...)
	if m.index != nil {
		m.index = make(map[string]int, len(m.keys))
		for j, k := range m.keys {
			m.index[k] = j
		}
	}
}

// Get returns the value of key: a string, a []string or a *Message, or nil
// if m has no such key. The returned slice or section is m's own.
func (m *Message) Get(key string) any {
	if i := m.find(key); i >= 0 {
		return m.vals[i]
	}
	return nil // also for a nil m
}

// GetString returns the key/value value of key, or "" if key is absent or
// is a list or section.
func (m *Message) GetString(key string) string {
	s, _ := m.Get(key).(string)
	return s
}

// GetList returns the list value of key, or nil if key is absent or is not
// a list.
func (m *Message) GetList(key string) []string {
	l, _ := m.Get(key).([]string)
	return l
}

// GetSection returns the sub-section key, or nil if key is absent or is not
// a section.
func (m *Message) GetSection(key string) *Message {
	s, _ := m.Get(key).(*Message)
	return s
}

// MarshalBinary encodes m as a VICI message (README "Message format").
func (m *Message) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// AppendBinary appends the encoding of m to b.
func (m *Message) AppendBinary(b []byte) ([]byte, error) { return m.appendElems(b, 0) }

func (m *Message) appendElems(b []byte, depth int) ([]byte, error) {
	if depth > MaxDepth {
		// Also stops a section that contains itself.
		return nil, fmt.Errorf("vici: sections nested deeper than %d", MaxDepth)
	}
	for i, k := range m.keys {
		if len(k) > MaxNameLen {
			return nil, fmt.Errorf("vici: key %.32q... longer than %d bytes", k, MaxNameLen)
		}
		if err := checkValue(k, m.vals[i]); err != nil {
			return nil, err
		}
		switch v := m.vals[i].(type) {
		case string:
			b = appendName(append(b, elemKeyValue), k)
			b = appendValue(b, v)
		case []string:
			b = appendName(append(b, elemListStart), k)
			for _, item := range v {
				b = appendValue(append(b, elemListItem), item)
			}
			b = append(b, elemListEnd)
		case *Message:
			b = appendName(append(b, elemSectionStart), k)
			var err error
			if b, err = v.appendElems(b, depth+1); err != nil {
				return nil, err
			}
			b = append(b, elemSectionEnd)
		}
	}
	return b, nil
}

func appendName(b []byte, name string) []byte {
	return append(append(b, byte(len(name))), name...)
}

func appendValue(b []byte, v string) []byte {
	return append(append(b, byte(len(v)>>8), byte(len(v))), v...)
}

// UnmarshalBinary replaces m's contents with the message decoded from b.
// It enforces the README's structure rules: balanced sections, lists not
// nested and holding only items, unique keys per section; plus MaxDepth.
// Errors wrap ErrMalformed; on error m is left empty.
func (m *Message) UnmarshalBinary(b []byte) error {
	*m = Message{}
	root, err := decodeMessage(b)
	if err != nil {
		return err
	}
	*m = *root
	return nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func decodeMessage(b []byte) (*Message, error) {
	root := &Message{}
	stack := []*Message{root}
	var (
		inList   bool
		listName string
		items    []string
	)
	for off := 0; off < len(b); {
		typ := b[off]
		at := off
		off++
		var name, value string
		var err error
		switch typ {
		case elemSectionStart, elemKeyValue, elemListStart:
			if inList {
				return nil, malformed("element type %d inside list %q at offset %d", typ, listName, at)
			}
			if name, off, err = readName(b, off); err != nil {
				return nil, err
			}
		case elemListItem:
			if !inList {
				return nil, malformed("list item outside a list at offset %d", at)
			}
		case elemSectionEnd:
			if inList {
				return nil, malformed("section end inside list %q at offset %d", listName, at)
			}
		case elemListEnd:
			if !inList {
				return nil, malformed("list end outside a list at offset %d", at)
			}
		default:
			return nil, malformed("unknown element type %d at offset %d", typ, at)
		}
		if typ == elemKeyValue || typ == elemListItem {
			if value, off, err = readValue(b, off); err != nil {
				return nil, err
			}
		}
		cur := stack[len(stack)-1]
		switch typ {
		case elemSectionStart:
			if len(stack) > MaxDepth {
				return nil, malformed("sections nested deeper than %d at offset %d", MaxDepth, at)
			}
			sub := &Message{}
			if !cur.add(name, sub) {
				return nil, malformed("duplicate key %q at offset %d", name, at)
			}
			stack = append(stack, sub)
		case elemSectionEnd:
			if len(stack) == 1 {
				return nil, malformed("section end without a section at offset %d", at)
			}
			stack = stack[:len(stack)-1]
		case elemKeyValue:
			if !cur.add(name, value) {
				return nil, malformed("duplicate key %q at offset %d", name, at)
			}
		case elemListStart:
			if cur.find(name) >= 0 {
				return nil, malformed("duplicate key %q at offset %d", name, at)
			}
			inList, listName, items = true, name, []string{}
		case elemListItem:
			items = append(items, value)
		case elemListEnd:
			// Nothing else can be added to cur while the list is open,
			// so adding it now keeps the encoding order.
			cur.add(listName, items)
			inList, listName, items = false, "", nil
		}
	}
	if inList {
		return nil, malformed("list %q not closed", listName)
	}
	if len(stack) != 1 {
		return nil, malformed("%d section(s) not closed", len(stack)-1)
	}
	return root, nil
}

func readName(b []byte, off int) (string, int, error) {
	if off >= len(b) {
		return "", 0, malformed("truncated name length at offset %d", off)
	}
	n := int(b[off])
	off++
	if n > len(b)-off {
		return "", 0, malformed("name of %d bytes at offset %d exceeds the message", n, off)
	}
	return string(b[off : off+n]), off + n, nil
}

func readValue(b []byte, off int) (string, int, error) {
	if len(b)-off < 2 {
		return "", 0, malformed("truncated value length at offset %d", off)
	}
	n := int(b[off])<<8 | int(b[off+1])
	off += 2
	if n > len(b)-off {
		return "", 0, malformed("value of %d bytes at offset %d exceeds the message", n, off)
	}
	return string(b[off : off+n]), off + n, nil
}

// String renders m for logs and test failures, e.g.
// {key1=value1 section1={list1=[item1 item2]}}. Values are quoted where
// they hold spaces or non-printable bytes.
func (m *Message) String() string {
	if m == nil {
		return "<nil>"
	}
	var sb strings.Builder
	m.writeTo(&sb, 0)
	return sb.String()
}

func (m *Message) writeTo(sb *strings.Builder, depth int) {
	if depth > MaxDepth {
		sb.WriteString("{...}")
		return
	}
	sb.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(quoteIfNeeded(k))
		sb.WriteByte('=')
		switch v := m.vals[i].(type) {
		case string:
			sb.WriteString(quoteIfNeeded(v))
		case []string:
			sb.WriteByte('[')
			for j, item := range v {
				if j > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(quoteIfNeeded(item))
			}
			sb.WriteByte(']')
		case *Message:
			v.writeTo(sb, depth+1)
		}
	}
	sb.WriteByte('}')
}

func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"={}[]`, r) {
			return strconv.Quote(s)
		}
	}
	return s
}
