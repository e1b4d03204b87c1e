package daemon

import (
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/vici"
)

// store is the daemon's configuration as two layers, the way charon keeps
// what swanctl loaded: the config file (--config, re-read on reload) and
// what VICI clients loaded or unloaded since (load-conn, load-shared,
// unload-conn, unload-shared). The effective configuration is the file
// with the VICI layer on top. A reload makes the file the truth again for
// every name it defines; connections and secrets that only VICI loaded
// survive it.
//
// Lookups by name go through indexes kept up to date, so that loading one
// connection among 10,000 costs a copy of the effective lists, not a
// rebuild of maps. store is not safe for concurrent use; the daemon
// serialises changes.
type store struct {
	file        *config.Config
	fileConns   map[string]*config.Connection
	fileSecrets map[string]*config.Secret
	// VICI layer: loaded entries in load order (nil: unloaded, compacted
	// once they are half the slice), their indexes by name, and file
	// entries hidden by an unload.
	conns         []*config.Connection
	connIdx       map[string]int
	secrets       []*config.Secret
	secretIdx     map[string]int
	deadConns     int
	deadSecrets   int
	hiddenConns   map[string]bool
	hiddenSecrets map[string]bool
	nextSecret    int // for load-shared requests without an id
	// pools are the pools loaded over VICI (load-pool; a handful, so
	// no index), hiddenPools file pools hidden by an unload-pool.
	pools       []*config.Pool
	hiddenPools map[string]bool
	// creds is the VICI layer of the credentials (load-cert, load-key,
	// load-authority) over the swanctl directories beside the file.
	creds viciCreds
}

func newStore(file *config.Config) *store {
	s := &store{connIdx: map[string]int{}, secretIdx: map[string]int{},
		hiddenConns: map[string]bool{}, hiddenSecrets: map[string]bool{}, hiddenPools: map[string]bool{}}
	s.indexFile(file)
	return s
}

func (s *store) indexFile(file *config.Config) {
	s.file = file
	s.fileConns = byName(file.Connections, func(c *config.Connection) string { return c.Name })
	s.fileSecrets = byName(file.Secrets, func(x *config.Secret) string { return x.Name })
}

func (s *store) viciConn(name string) *config.Connection {
	if i, ok := s.connIdx[name]; ok {
		return s.conns[i]
	}
	return nil
}

func (s *store) viciSecret(name string) *config.Secret {
	if i, ok := s.secretIdx[name]; ok {
		return s.secrets[i]
	}
	return nil
}

// effective merges the layers into the configuration the daemon runs.
// Entries keep their pointers from one call to the next unless they were
// loaded again, which lets apply skip unchanged connections cheaply.
func (s *store) effective() *config.Config {
	out := &config.Config{
		Connections: make([]*config.Connection, 0, len(s.file.Connections)+len(s.conns)),
		Secrets:     make([]*config.Secret, 0, len(s.file.Secrets)+len(s.secrets)),
		// Credentials (x509/, private/, ...) are found beside the file.
		Dir: s.file.Dir,
	}
	for _, p := range s.file.Pools {
		if v := s.viciPool(p.Name); v != nil {
			out.Pools = append(out.Pools, v)
		} else if !s.hiddenPools[p.Name] {
			out.Pools = append(out.Pools, p)
		}
	}
	for _, p := range s.pools {
		if s.file.Pool(p.Name) == nil {
			out.Pools = append(out.Pools, p)
		}
	}
	for _, c := range s.file.Connections {
		if v := s.viciConn(c.Name); v != nil {
			out.Connections = append(out.Connections, v)
		} else if !s.hiddenConns[c.Name] {
			out.Connections = append(out.Connections, c)
		}
	}
	for _, c := range s.conns {
		if c != nil && s.fileConns[c.Name] == nil {
			out.Connections = append(out.Connections, c)
		}
	}
	for _, sec := range s.file.Secrets {
		if v := s.viciSecret(sec.Name); v != nil {
			out.Secrets = append(out.Secrets, v)
		} else if !s.hiddenSecrets[sec.Name] {
			out.Secrets = append(out.Secrets, sec)
		}
	}
	for _, sec := range s.secrets {
		if sec != nil && s.fileSecrets[sec.Name] == nil {
			out.Secrets = append(out.Secrets, sec)
		}
	}
	return out
}

func byName[T any](list []T, name func(T) string) map[string]T {
	m := make(map[string]T, len(list))
	for _, x := range list {
		m[name(x)] = x
	}
	return m
}

// setFile installs a re-read config file: it wins over the VICI layer for
// every name it defines, and unloads of file entries are forgotten.
func (s *store) setFile(file *config.Config) {
	s.indexFile(file)
	s.conns = deleteFunc(s.conns, func(c *config.Connection) bool { return c == nil || s.fileConns[c.Name] != nil })
	s.secrets = deleteFunc(s.secrets, func(sec *config.Secret) bool { return sec == nil || s.fileSecrets[sec.Name] != nil })
	s.reindex()
	s.pools = deleteFunc(s.pools, func(p *config.Pool) bool { return file.Pool(p.Name) != nil })
	clear(s.hiddenConns)
	clear(s.hiddenSecrets)
	clear(s.hiddenPools)
}

func (s *store) viciPool(name string) *config.Pool {
	for _, p := range s.pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// loadPool adds or replaces a pool in the VICI layer (load-pool).
func (s *store) loadPool(p *config.Pool) {
	delete(s.hiddenPools, p.Name)
	for i, old := range s.pools {
		if old.Name == p.Name {
			s.pools[i] = p
			return
		}
	}
	s.pools = append(s.pools, p)
}

// unloadPool reports whether a pool of that name was loaded.
func (s *store) unloadPool(name string) bool {
	found := s.viciPool(name) != nil || (s.file.Pool(name) != nil && !s.hiddenPools[name])
	s.pools = deleteFunc(s.pools, func(p *config.Pool) bool { return p.Name == name })
	if s.file.Pool(name) != nil {
		s.hiddenPools[name] = true
	}
	return found
}

// reindex compacts the VICI layer and rebuilds its indexes.
func (s *store) reindex() {
	s.conns = deleteFunc(s.conns, func(c *config.Connection) bool { return c == nil })
	s.secrets = deleteFunc(s.secrets, func(sec *config.Secret) bool { return sec == nil })
	s.deadConns, s.deadSecrets = 0, 0
	clear(s.connIdx)
	for i, c := range s.conns {
		s.connIdx[c.Name] = i
	}
	clear(s.secretIdx)
	for i, sec := range s.secrets {
		s.secretIdx[sec.Name] = i
	}
}

func (s *store) loadConn(c *config.Connection) {
	delete(s.hiddenConns, c.Name)
	if i, ok := s.connIdx[c.Name]; ok {
		s.conns[i] = c
		return
	}
	s.connIdx[c.Name] = len(s.conns)
	s.conns = append(s.conns, c)
}

// unloadConn reports whether a connection of that name was loaded.
func (s *store) unloadConn(name string) bool {
	i, vici := s.connIdx[name]
	found := vici || (s.fileConns[name] != nil && !s.hiddenConns[name])
	if vici {
		s.conns[i] = nil
		delete(s.connIdx, name)
		if s.deadConns++; 2*s.deadConns > len(s.conns) {
			s.reindex()
		}
	}
	if s.fileConns[name] != nil {
		s.hiddenConns[name] = true
	}
	return found
}

func (s *store) loadSecret(sec *config.Secret) {
	delete(s.hiddenSecrets, sec.Name)
	if i, ok := s.secretIdx[sec.Name]; ok {
		s.secrets[i] = sec
		return
	}
	s.secretIdx[sec.Name] = len(s.secrets)
	s.secrets = append(s.secrets, sec)
}

func (s *store) unloadSecret(name string) bool {
	i, vici := s.secretIdx[name]
	found := vici || (s.fileSecrets[name] != nil && !s.hiddenSecrets[name])
	if vici {
		s.secrets[i] = nil
		delete(s.secretIdx, name)
		if s.deadSecrets++; 2*s.deadSecrets > len(s.secrets) {
			s.reindex()
		}
	}
	if s.fileSecrets[name] != nil {
		s.hiddenSecrets[name] = true
	}
	return found
}

// clearVICICreds drops the secrets, certificates and keys VICI loaded
// (clear-creds: "only credentials loaded over vici"; authorities stay,
// as in charon, where they are configuration).
func (s *store) clearVICICreds() {
	s.secrets = nil
	s.reindex()
	s.creds.certs, s.creds.crls, s.creds.keys = nil, nil, nil
}

// credentials reads the swanctl credential directories beside the file
// and layers the VICI credentials over them.
func (s *store) credentials() (*credentials, error) {
	dir, err := loadCredentials(s.file.Dir)
	if err != nil {
		return nil, err
	}
	return dir.layer(&s.creds), nil
}

func deleteFunc[T any](list []T, del func(T) bool) []T {
	out := list[:0:0]
	for _, x := range list {
		if !del(x) {
			out = append(out, x)
		}
	}
	return out
}

// clone copies the store's layers (the entries themselves are immutable).
func (s *store) clone() *store {
	cp := *s
	cp.conns = append([]*config.Connection(nil), s.conns...)
	cp.secrets = append([]*config.Secret(nil), s.secrets...)
	cp.connIdx = maps.Clone(s.connIdx)
	cp.secretIdx = maps.Clone(s.secretIdx)
	cp.hiddenConns = maps.Clone(s.hiddenConns)
	cp.hiddenSecrets = maps.Clone(s.hiddenSecrets)
	cp.pools = append([]*config.Pool(nil), s.pools...)
	cp.hiddenPools = maps.Clone(s.hiddenPools)
	cp.creds = s.creds.clone()
	return &cp
}

// sameConnection reports whether two connections configure the same thing
// (positions in files do not count), so a reload can leave its SAs alone.
func sameConnection(a, b *config.Connection) bool {
	return reflect.DeepEqual(withoutPos(a), withoutPos(b))
}

func withoutPos(c *config.Connection) config.Connection {
	cp := *c
	cp.Pos, cp.PoolsPos = config.Pos{}, config.Pos{}
	cp.Children = make([]*config.Child, len(c.Children))
	for i, ch := range c.Children {
		chc := *ch
		chc.Pos = config.Pos{}
		cp.Children[i] = &chc
	}
	return cp
}

// connectionsFromVICI turns a load-conn request ({<name> = {<swanctl.conf
// keys>}}) into connections, through the same validation as the config
// file: the message becomes the tree connections { <name> { ... } }
// (swanctl sends the file's keys, its list keys already split) and
// config.FromTree checks and types it.
//
// The connections may name the pools known reports (the running
// configuration's, from the file or load-pool).
func connectionsFromVICI(req *vici.Message, known func(string) bool) ([]*config.Connection, error) {
	if req.Len() == 0 {
		return nil, fmt.Errorf("load-conn: no connection in the request")
	}
	conns := &config.Section{Name: "connections"}
	for _, name := range req.Keys() {
		sub := req.GetSection(name)
		if sub == nil {
			return nil, fmt.Errorf("connections.%s: a connection must be a section", name)
		}
		tree := treeFromVICI(name, sub)
		for _, auth := range tree.Sections {
			if strings.HasPrefix(auth.Name, "local") || strings.HasPrefix(auth.Name, "remote") {
				armorCredentials(auth)
			}
		}
		conns.Sections = append(conns.Sections, tree)
	}
	cfg, err := config.FromTreeWithPools(&config.Section{Sections: []*config.Section{conns}}, known)
	if err != nil {
		return nil, err
	}
	return cfg.Connections, nil
}

// armorCredentials PEM-encodes the DER certificates and public keys that
// swanctl sends in certs, cacerts and pubkeys (it sends the contents of
// the files, PEM or DER, not their names), so that they survive the
// config parser's comma-separated lists and are told apart from file
// names (credentials.go, inlinePEM).
func armorCredentials(auth *config.Section) {
	for _, v := range auth.Values {
		typ := map[string]string{"certs": "CERTIFICATE", "cacerts": "CERTIFICATE", "pubkeys": "PUBLIC KEY"}[v.Key]
		if typ == "" {
			continue
		}
		for i, it := range v.Items {
			if !strings.Contains(it, "-----BEGIN ") && strings.ContainsFunc(it, func(r rune) bool { return r < 0x20 || r == utf8.RuneError }) {
				v.Items[i] = string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte(it)}))
			}
		}
	}
}

// treeFromVICI converts a VICI section into a config section: key/values
// become one-item values, lists many-item values, sections sections.
func treeFromVICI(name string, m *vici.Message) *config.Section {
	s := &config.Section{Name: name}
	for _, k := range m.Keys() {
		switch v := m.Get(k).(type) {
		case string:
			s.Values = append(s.Values, &config.Value{Key: k, Items: []string{v}})
		case []string:
			s.Values = append(s.Values, &config.Value{Key: k, Items: v})
		case *vici.Message:
			s.Sections = append(s.Sections, treeFromVICI(k, v))
		}
	}
	return s
}

// secretFromVICI turns a load-shared request ({id, type, data, owners})
// into a secret, validated like secrets.ike-<id> { secret, id-N } in a
// file. Only IKE pre-shared keys are supported.
func (s *store) secretFromVICI(req *vici.Message) (*config.Secret, error) {
	typ := strings.ToLower(req.GetString("type"))
	switch typ {
	case "ike":
	case "":
		return nil, fmt.Errorf("load-shared: missing type (want ike)")
	case "eap", "xauth", "ntlm", "ppk":
		return nil, fmt.Errorf("load-shared: %s secrets are not supported yet (only ike pre-shared keys)", typ)
	default:
		return nil, fmt.Errorf("load-shared: unknown secret type %q (want ike)", req.GetString("type"))
	}
	id := req.GetString("id")
	if id == "" {
		s.nextSecret++
		id = "ike-vici-" + strconv.Itoa(s.nextSecret)
	}
	section := id
	if !strings.HasPrefix(section, "ike") {
		section = "ike-" + section
	}
	data := req.GetString("data")
	if data == "" {
		return nil, fmt.Errorf("load-shared %s: empty secret", id)
	}
	sec := &config.Section{Name: section, Values: []*config.Value{
		{Key: "secret", Items: []string{"0x" + hex.EncodeToString([]byte(data))}},
	}}
	for i, owner := range req.GetList("owners") {
		sec.Values = append(sec.Values, &config.Value{Key: "id-" + strconv.Itoa(i+1), Items: []string{owner}})
	}
	cfg, err := config.FromTree(&config.Section{Sections: []*config.Section{{Name: "secrets", Sections: []*config.Section{sec}}}})
	if err != nil {
		return nil, err
	}
	out := cfg.Secrets[0]
	out.Name = id // what get-shared lists and unload-shared names
	return out, nil
}
