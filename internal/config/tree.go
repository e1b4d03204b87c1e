package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Limits that keep a hostile or broken file from exhausting the parser.
const (
	maxFileSize     = 4 << 20 // bytes per file, like nothing strongSwan users write
	maxSectionDepth = 32
	maxIncludeDepth = 16
)

// Pos is a position in a configuration file. Line counts from 1; a zero Pos
// means the value did not come from a file (e.g. VICI load-conn).
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return ""
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
}

// Sentinels wrapped by *Error so that callers can tell an unknown key (a
// typo, or not a swanctl.conf key at all) from a strongSwan key this build
// does not implement yet.
var (
	ErrUnknown     = errors.New("unknown")
	ErrUnsupported = errors.New("not supported yet")
)

// Error names the file, line and full dotted key of a configuration
// problem: "swanctl.conf:12: connections.site.proposals: unknown algorithm \"aes999\"".
// Key is empty for syntax errors.
type Error struct {
	Pos Pos
	Key string
	Msg string
	Err error // the cause, if any (ErrUnknown, ErrUnsupported, suite errors…)
}

func (e *Error) Error() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Section is a swanctl.conf section (name { ... }) in file order. The root
// section has an empty Name. It is also the shape VICI load-conn and
// load-shared messages carry.
type Section struct {
	Name     string
	Pos      Pos
	Values   []*Value
	Sections []*Section
}

// Value is one key = value line. ParseTree stores the value as written (one
// item, quotes resolved, commas kept): which keys are lists is a matter of
// meaning that FromTree decides, splitting list items at commas as swanctl
// does. A tree built from a VICI message may carry several items.
type Value struct {
	Key   string
	Pos   Pos
	Items []string
}

// Section returns the first subsection with the given name, or nil.
func (s *Section) Section(name string) *Section {
	for _, c := range s.Sections {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Value returns the first value with the given key, or nil.
func (s *Section) Value(key string) *Value {
	for _, v := range s.Values {
		if v.Key == key {
			return v
		}
	}
	return nil
}

// ParseTree parses swanctl.conf(5) syntax (strongSwan's settings syntax):
//
//	# comment
//	name {              sections nest; the brace may follow on the next line
//	    key = value     the value runs to the end of the line or a '#'
//	    key = "a # b"   double quotes keep '#' and spaces; escapes \" \\ \n \t \r,
//	                    and a backslash at the end of a line continues it
//	}
//	include PATTERN     a glob, relative to the directory of the including
//	                    file; its statements go into the current section
//
// One key per line: braces are not allowed in unquoted values, so
// "local { auth = psk }" on one line is an error, as it is for strongSwan.
// A glob include that matches nothing is fine; a plain path that does not
// exist is an error.
func ParseTree(filename string, data []byte) (*Section, error) {
	root := &Section{Pos: Pos{File: filename, Line: 1}}
	p := &parser{file: filename, data: data, line: 1, inc: osIncluder{}}
	if err := p.statements(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

// includer reads the files an include statement names; tests replace it.
type includer interface {
	Glob(pattern string) ([]string, error)
	ReadFile(name string) ([]byte, error)
}

type osIncluder struct{}

func (osIncluder) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// ReadFile reads a regular file of bounded size (an include of /dev/zero
// must not hang the daemon).
func (osIncluder) ReadFile(name string) ([]byte, error) {
	return readConfigFile(name)
}

func readConfigFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
	}
	return data, nil
}

type parser struct {
	file         string
	data         []byte
	off          int
	line         int
	includeDepth int
	inc          includer
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &Error{Pos: Pos{File: p.file, Line: line}, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peek() (byte, bool) {
	if p.off >= len(p.data) {
		return 0, false
	}
	return p.data[p.off], true
}

// skipBlank skips spaces and tabs (and carriage returns) on the current line.
func (p *parser) skipBlank() {
	for p.off < len(p.data) {
		switch p.data[p.off] {
		case ' ', '\t', '\r':
			p.off++
		default:
			return
		}
	}
}

// skipSpace skips blanks, newlines and comments.
func (p *parser) skipSpace() {
	for p.off < len(p.data) {
		switch c := p.data[p.off]; c {
		case ' ', '\t', '\r':
			p.off++
		case '\n':
			p.off++
			p.line++
		case '#':
			p.skipComment()
		default:
			return
		}
	}
}

// skipComment skips to (not past) the end of the line.
func (p *parser) skipComment() {
	for p.off < len(p.data) && p.data[p.off] != '\n' {
		p.off++
	}
}

func isNameByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("#{}=,\":", rune(c))
}

func (p *parser) name() string {
	start := p.off
	for p.off < len(p.data) && isNameByte(p.data[p.off]) {
		p.off++
	}
	return string(p.data[start:p.off])
}

// statements parses until EOF (depth 0 of a file) or the '}' closing sec.
func (p *parser) statements(sec *Section, depth int) error {
	open := p.line
	for {
		p.skipSpace()
		c, ok := p.peek()
		if !ok {
			if depth > 0 {
				return p.errorf(open, "section %q is missing its closing '}'", sec.Name)
			}
			return nil
		}
		if c == '}' {
			if depth == 0 {
				return p.errorf(p.line, "unexpected '}'")
			}
			p.off++
			return nil
		}
		line := p.line
		name := p.name()
		if name == "" {
			return p.errorf(line, "unexpected %q", c)
		}
		if name == "include" && p.isInclude() {
			if err := p.include(sec, line); err != nil {
				return err
			}
			continue
		}
		p.skipSpace()
		c, ok = p.peek()
		switch {
		case ok && c == '=':
			p.off++
			v, err := p.value()
			if err != nil {
				return err
			}
			sec.Values = append(sec.Values, &Value{Key: name, Pos: Pos{p.file, line}, Items: []string{v}})
		case ok && c == '{':
			if depth+1 >= maxSectionDepth {
				return p.errorf(line, "sections nested too deeply")
			}
			p.off++
			child := &Section{Name: name, Pos: Pos{p.file, line}}
			if err := p.statements(child, depth+1); err != nil {
				return err
			}
			sec.Sections = append(sec.Sections, child)
		case ok && c == ':':
			p.off++
			p.skipBlank()
			return &Error{Pos: Pos{p.file, line}, Msg: fmt.Sprintf("section templates (%s : %s) not supported yet", name, p.name()), Err: ErrUnsupported}
		default:
			return p.errorf(line, "expected '=' or '{' after %q", name)
		}
	}
}

// isInclude reports whether "include" is followed, on the same line, by
// something other than '=' or '{' (a key or section may be called include).
func (p *parser) isInclude() bool {
	i := p.off
	for i < len(p.data) && (p.data[i] == ' ' || p.data[i] == '\t') {
		i++
	}
	if i == p.off || i >= len(p.data) {
		return false
	}
	c := p.data[i]
	return c != '=' && c != '{' && c != '\n' && c != '\r' && c != '#'
}

func (p *parser) include(sec *Section, line int) error {
	pattern, err := p.value()
	if err != nil {
		return err
	}
	if pattern == "" {
		return p.errorf(line, "include: missing pattern")
	}
	if p.includeDepth+1 >= maxIncludeDepth {
		return p.errorf(line, "include %q: includes nested too deeply (a loop?)", pattern)
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(p.file), pattern)
	}
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		if files, err = p.inc.Glob(pattern); err != nil {
			return p.errorf(line, "include %q: %v", pattern, err)
		}
	} else {
		files = []string{pattern}
	}
	for _, f := range files {
		data, err := p.inc.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return p.errorf(line, "include %q: no such file", f)
			}
			return p.errorf(line, "include: %v", err)
		}
		sub := &parser{file: f, data: data, line: 1, includeDepth: p.includeDepth + 1, inc: p.inc}
		if err := sub.statements(sec, 0); err != nil {
			return err
		}
	}
	return nil
}

// value reads the rest of the line after '=' (or "include"): unquoted text
// with surrounding blanks trimmed, and quoted strings taken literally.
func (p *parser) value() (string, error) {
	line := p.line
	p.skipBlank()
	var b []byte
	keep := 0 // bytes up to the end of the last quoted part are never trimmed
	for p.off < len(p.data) {
		c := p.data[p.off]
		switch {
		case c == '\n':
			return trimValue(b, keep), nil
		case c == '#':
			p.skipComment()
			return trimValue(b, keep), nil
		case c == '"':
			p.off++
			s, err := p.quoted(line)
			if err != nil {
				return "", err
			}
			b = append(b, s...)
			keep = len(b)
		case c == '{' || c == '}':
			return "", p.errorf(line, "unexpected %q in a value: put each key = value on a line of its own, or quote the value", c)
		default:
			b = append(b, c)
			p.off++
		}
	}
	return trimValue(b, keep), nil
}

func trimValue(b []byte, keep int) string {
	end := len(b)
	for end > keep && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\r') {
		end--
	}
	return string(b[:end])
}

// quoted reads a double-quoted string after its opening quote.
func (p *parser) quoted(line int) ([]byte, error) {
	var b []byte
	for p.off < len(p.data) {
		c := p.data[p.off]
		p.off++
		switch c {
		case '"':
			return b, nil
		case '\n':
			return nil, p.errorf(line, "unterminated string (end a line with '\\' to continue it)")
		case '\\':
			if p.off >= len(p.data) {
				return nil, p.errorf(line, "unterminated string")
			}
			e := p.data[p.off]
			p.off++
			switch e {
			case '"', '\\':
				b = append(b, e)
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			case 'r':
				b = append(b, '\r')
			case '\n':
				p.line++
			case '\r':
				if p.off < len(p.data) && p.data[p.off] == '\n' {
					p.off++
					p.line++
					continue
				}
				return nil, p.errorf(line, "invalid escape \"\\\\\\r\"")
			default:
				return nil, p.errorf(p.line, "invalid escape %q in string (use \\\" \\\\ \\n \\t \\r)", "\\"+string(e))
			}
		default:
			b = append(b, c)
		}
	}
	return nil, p.errorf(line, "unterminated string")
}
