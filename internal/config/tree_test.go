package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseTreeStructure(t *testing.T) {
	data := `# leading comment
connections {
    site {   # a comment after a brace
        remote_addrs = 192.0.2.2   # trailing comment
        proposals = aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384
        empty =
        local
        {
            id = "C=CH, O=strongSwan, CN=moon"
        }
    }
}
include = not an include statement
`
	root, err := ParseTree("t.conf", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	conns := root.Section("connections")
	if conns == nil || conns.Pos.Line != 2 {
		t.Fatalf("connections section: %+v", conns)
	}
	site := conns.Section("site")
	if site == nil || site.Pos != (Pos{"t.conf", 3}) {
		t.Fatalf("site section: %+v", site)
	}
	want := []Value{
		{Key: "remote_addrs", Pos: Pos{"t.conf", 4}, Items: []string{"192.0.2.2"}},
		{Key: "proposals", Pos: Pos{"t.conf", 5}, Items: []string{"aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384"}},
		{Key: "empty", Pos: Pos{"t.conf", 6}, Items: []string{""}},
	}
	if len(site.Values) != len(want) {
		t.Fatalf("site values: %d, want %d", len(site.Values), len(want))
	}
	for i, v := range site.Values {
		if !reflect.DeepEqual(*v, want[i]) {
			t.Errorf("value %d = %+v, want %+v", i, *v, want[i])
		}
	}
	local := site.Section("local")
	if local == nil || local.Pos.Line != 7 {
		t.Fatalf("local section (brace on the next line): %+v", local)
	}
	if v := local.Value("id"); v == nil || v.Items[0] != "C=CH, O=strongSwan, CN=moon" || v.Pos.Line != 9 {
		t.Fatalf("quoted id: %+v", v)
	}
	if v := root.Value("include"); v == nil || v.Items[0] != "not an include statement" {
		t.Fatalf("key named include: %+v", v)
	}
}

func TestParseTreeQuoted(t *testing.T) {
	tests := []struct{ in, want string }{
		{`k = plain value with  inner  spaces   `, "plain value with  inner  spaces"},
		{`k = "  padded # not a comment  "`, "  padded # not a comment  "},
		{`k = "a, b" # comment`, "a, b"},
		{`k = "tab\there" `, "tab\there"},
		{`k = "quote \" and backslash \\"`, `quote " and backslash \`},
		{`k = "line\nbreak"`, "line\nbreak"},
		{"k = \"con\\\ntinued\"", "continued"},
		{`k = pre"mid"post`, "premidpost"},
		{`k = x=y, z=w`, "x=y, z=w"},
		{"k = crlf\r", "crlf"},
		{`k = ""`, ""},
		{`k = "{braces}"`, "{braces}"},
	}
	for _, tt := range tests {
		root, err := ParseTree("q.conf", []byte(tt.in+"\n"))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got := root.Values[0].Items[0]; got != tt.want {
			t.Errorf("%q: value %q, want %q", tt.in, got, tt.want)
		}
	}
	// The line count stays right after a continued string.
	root, err := ParseTree("q.conf", []byte("a = \"x\\\ny\"\nb = 2\n"))
	if err != nil || root.Values[1].Pos.Line != 3 {
		t.Fatalf("line after continuation: %v %+v", err, root)
	}
}

func TestParseTreeSyntaxErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a {\n b = 1\n", "s.conf:1: section \"a\" is missing its closing '}'"},
		{"a = 1\n}\n", "s.conf:2: unexpected '}'"},
		{"local { auth = psk }\n", "s.conf:1: unexpected '}' in a value: put each key = value on a line of its own"},
		{"k = \"open\n", "s.conf:1: unterminated string"},
		{"k = \"open", "s.conf:1: unterminated string"},
		{"k = \"bad \\q escape\"\n", "s.conf:1: invalid escape"},
		{"\n\nlonely\n", "s.conf:3: expected '=' or '{' after \"lonely\""},
		{"a : b {\n}\n", "s.conf:1: section templates (a : b) not supported yet"},
		{"= 1\n", "s.conf:1: unexpected '='"},
		{"\"q\" = 1\n", "s.conf:1: unexpected '\"'"},
		{strings.Repeat("a {\n", 40), "sections nested too deeply"},
		{"include\t\n", "expected '=' or '{' after \"include\""},
	}
	for _, tt := range tests {
		_, err := ParseTree("s.conf", []byte(tt.in))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Errorf("%q: error %T is not *Error", tt.in, err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "swanctl.conf")
	writeFile(t, main, `connections {
    include conf.d/*.conf
}
include "secrets/psk.secrets"
include nothing/*.conf
`)
	// Sorted glob order: a before b; b includes a file relative to its own directory.
	writeFile(t, filepath.Join(dir, "conf.d", "b.conf"), "b {\n  version = 2\n}\ninclude ../more/c.inc\n")
	writeFile(t, filepath.Join(dir, "conf.d", "a.conf"), "\na {\n  version = 2\n}\n")
	writeFile(t, filepath.Join(dir, "more", "c.inc"), "c {\n}\n")
	writeFile(t, filepath.Join(dir, "secrets", "psk.secrets"), "secrets {\n  ike-x {\n    secret = s\n  }\n}\n")

	data, _ := os.ReadFile(main)
	root, err := ParseTree(main, data)
	if err != nil {
		t.Fatal(err)
	}
	conns := root.Section("connections")
	var names []string
	for _, s := range conns.Sections {
		names = append(names, s.Name+"@"+filepath.Base(s.Pos.File)+":"+strconv.Itoa(s.Pos.Line))
	}
	if want := []string{"a@a.conf:2", "b@b.conf:1", "c@c.inc:1"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("included sections %v, want %v", names, want)
	}
	sec := root.Section("secrets")
	if sec == nil || sec.Pos.File != filepath.Join(dir, "secrets", "psk.secrets") {
		t.Fatalf("secrets section: %+v", sec)
	}

	// Errors inside an included file name that file.
	writeFile(t, filepath.Join(dir, "conf.d", "a.conf"), "a {\n  version = 1\n}\n")
	_, err = Load(main)
	if want := filepath.Join(dir, "conf.d", "a.conf") + ":2: connections.a.version: IKEv1 not supported yet"; err == nil || err.Error() != want {
		t.Fatalf("Load error %v, want %q", err, want)
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "swanctl.conf")

	_, err := ParseTree(main, []byte("\ninclude missing.conf\n"))
	if want := main + ":2: include \"" + filepath.Join(dir, "missing.conf") + "\": no such file"; err == nil || err.Error() != want {
		t.Errorf("missing include: %v, want %q", err, want)
	}

	writeFile(t, filepath.Join(dir, "loop.conf"), "include loop.conf\n")
	if _, err := ParseTree(main, []byte("include loop.conf\n")); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("include loop: %v", err)
	}

	if _, err := ParseTree(main, []byte("include [\n")); err == nil || !strings.Contains(err.Error(), "include") {
		t.Errorf("bad glob: %v", err)
	}

	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTree(main, []byte("include adir\n")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("include of a directory: %v", err)
	}

	writeFile(t, filepath.Join(dir, "broken.conf"), "a {\n")
	if _, err := ParseTree(main, []byte("include broken.conf\n")); err == nil ||
		!strings.HasPrefix(err.Error(), filepath.Join(dir, "broken.conf")+":1:") {
		t.Errorf("syntax error in include: %v", err)
	}

	// An absolute include path is taken as is.
	abs := filepath.Join(dir, "abs.conf")
	writeFile(t, abs, "k = v\n")
	root, err := ParseTree("/elsewhere/main.conf", []byte("include "+abs+"\n"))
	if err != nil || root.Value("k") == nil {
		t.Errorf("absolute include: %v", err)
	}
}

// noIncludes makes include statements fail without touching the file system.
type noIncludes struct{}

func (noIncludes) Glob(string) ([]string, error)   { return nil, nil }
func (noIncludes) ReadFile(string) ([]byte, error) { return nil, fs.ErrNotExist }
func parseNoIncludes(data []byte) (*Section, error) {
	root := &Section{Pos: Pos{File: "fuzz.conf", Line: 1}}
	p := &parser{file: "fuzz.conf", data: data, line: 1, inc: noIncludes{}}
	if err := p.statements(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

func FuzzParseTree(f *testing.F) {
	for _, s := range []string{
		exampleConf,
		"a {\n b = \"x\\\ny\"\n}\n",
		"include conf.d/*.conf\n",
		"k = \"unterminated\n",
		"a {\n",
		"}\n",
		"a { b { c { } } }\n",
		"k = v # c\r\nl = \"#\"\n",
		"secrets {\n ike {\n secret = 0sAAAA\n id-1 = @#00ff\n }\n}\n",
		"a : b {\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseNoIncludes(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		// Meaning checks must not panic either.
		_, _ = FromTree(root)
	})
}
