package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Where Debian's strongswan-charon, libcharon-extra-plugins and
// libstrongswan-standard-plugins (the openssl plugin) put things.
const (
	CharonPath      = "/usr/lib/ipsec/charon"
	CharonPluginDir = "/usr/lib/ipsec/plugins"
)

// CharonPlugins is charon's plugin list (DESIGN.md, "strongSwan as a test
// peer"). openssl comes before aes/gcm so that OpenSSL (AES-NI) provides
// the ciphers; kernel-libipsec is the userspace ESP data plane (this kernel
// has no ESP transforms), kernel-netlink still handles addresses and routes.
// Debian ships no chapoly or curve25519 plugin files: charon notes that they
// failed to load and OpenSSL provides ChaCha20-Poly1305 and X25519 instead.
const CharonPlugins = "random nonce openssl aes sha1 sha2 hmac gcm chapoly curve25519 gmp pem pkcs1 pkcs8 pubkey x509 kdf constraints revocation kernel-libipsec kernel-netlink socket-default vici updown"

// CharonStartTimeout bounds how long StartCharon waits for the VICI socket.
const CharonStartTimeout = 10 * time.Second

// CheckStrongSwan reports what is missing to run charon as a peer, or nil.
func CheckStrongSwan() error {
	var missing []string
	if fi, err := os.Stat(CharonPath); err != nil || fi.Mode()&0o111 == 0 {
		missing = append(missing, CharonPath+" (strongswan-charon)")
	}
	for _, p := range []string{"kernel-libipsec", "vici", "openssl"} {
		if _, err := os.Stat(filepath.Join(CharonPluginDir, "libstrongswan-"+p+".so")); err != nil {
			missing = append(missing, p+" plugin")
		}
	}
	for _, tool := range []string{"swanctl", "unshare", "mount", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("lab: strongSwan not usable, missing: %s (Debian: strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins)", strings.Join(missing, ", "))
	}
	return nil
}

// CheckPlugin reports whether strongSwan's plugin name is installed.
func CheckPlugin(name string) error {
	path := filepath.Join(CharonPluginDir, "libstrongswan-"+name+".so")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("lab: strongSwan plugin %s missing: %w", name, err)
	}
	return nil
}

// Charon is a strongSwan charon daemon running as a peer in a Namespace,
// with its configuration, VICI socket and log in Dir.
type Charon struct {
	Dir  string // strongswan.conf, swanctl.conf, charon.vici, charon.log
	VICI string // unix socket path (swanctl wants unix://VICI)

	ns       *Namespace
	proc     *Process
	conf     string // strongswan.conf path
	logPath  string // charon's filelog
	outPath  string // charon's stdout and stderr
	swanctlC string // swanctl.conf path
}

// StartCharon writes dir/strongswan.conf and runs charon in ns, in its own
// mount namespace with a tmpfs /run (charon keeps its pid file there, so
// several charons can run at once):
//
//	ip netns exec NS unshare -m sh -c 'mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=F exec charon'
//
// It waits up to CharonStartTimeout for the VICI socket to accept
// connections. dir is created if needed; it must not be under /run.
func StartCharon(ns *Namespace, dir string) (*Charon, error) {
	return StartCharonWith(ns, dir, "")
}

// StartCharonWith is StartCharon with extra strongswan.conf lines placed
// inside the charon section (one key = value or section line per line),
// e.g. "retransmit_timeout = 1" or a plugins.kernel-libipsec section.
func StartCharonWith(ns *Namespace, dir, extraCharonConf string) (*Charon, error) {
	if ns == nil {
		return nil, errors.New("lab: StartCharon: nil namespace")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: charon dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("lab: charon dir: %w", err)
	}
	if abs == "/run" || strings.HasPrefix(abs, "/run/") {
		return nil, fmt.Errorf("lab: charon dir %s is under /run, which charon's tmpfs /run hides", abs)
	}
	if strings.ContainsAny(abs, "\"\\\n\r\t{}#") {
		return nil, fmt.Errorf("lab: charon dir %q has characters strongswan.conf cannot quote", abs)
	}
	c := &Charon{
		Dir:      abs,
		VICI:     filepath.Join(abs, "charon.vici"),
		ns:       ns,
		conf:     filepath.Join(abs, "strongswan.conf"),
		logPath:  filepath.Join(abs, "charon.log"),
		outPath:  filepath.Join(abs, "charon.out"),
		swanctlC: filepath.Join(abs, "swanctl.conf"),
	}
	if len(c.VICI) >= 108 { // sizeof(sun_path)
		return nil, fmt.Errorf("lab: VICI socket path %s is too long for a unix socket", c.VICI)
	}
	if err := os.WriteFile(c.conf, []byte(c.strongswanConf(extraCharonConf)), 0o600); err != nil {
		return nil, fmt.Errorf("lab: write strongswan.conf: %w", err)
	}
	for _, p := range []string{c.VICI, c.logPath, c.outPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("lab: remove stale %s: %w", p, err)
		}
	}
	// The config path goes in as $1, so no shell quoting is involved.
	c.proc, err = ns.Start(c.outPath, "unshare", "-m", "sh", "-c",
		`mount -t tmpfs tmpfs /run && STRONGSWAN_CONF="$1" exec `+CharonPath, "sh", c.conf)
	if err != nil {
		return nil, err
	}
	if err := c.waitVICI(CharonStartTimeout); err != nil {
		c.proc.Stop()
		return nil, fmt.Errorf("%w\n--- charon log ---\n%s", err, c.Log())
	}
	return c, nil
}

// strongswanConf renders strongswan.conf(5), one key per line (the parser
// wants a newline after every value; brackets in comments confuse it).
func (c *Charon) strongswanConf(extra string) string {
	var b strings.Builder
	b.WriteString("# written by goipsec internal/lab\n")
	b.WriteString("charon {\n")
	b.WriteString("  load_modular = no\n")
	b.WriteString("  load = " + CharonPlugins + "\n")
	b.WriteString("  install_routes = yes\n")
	b.WriteString("  install_virtual_ip = yes\n")
	b.WriteString("  plugins {\n")
	b.WriteString("    vici {\n")
	b.WriteString("      socket = \"unix://" + c.VICI + "\"\n")
	b.WriteString("    }\n")
	b.WriteString("  }\n")
	b.WriteString("  filelog {\n")
	b.WriteString("    lab {\n")
	b.WriteString("      path = \"" + c.logPath + "\"\n")
	b.WriteString("      append = no\n")
	b.WriteString("      flush_line = yes\n")
	b.WriteString("      time_format = %H:%M:%S\n")
	b.WriteString("      time_add_ms = yes\n")
	b.WriteString("      ike_name = yes\n")
	b.WriteString("      default = 1\n")
	for _, sub := range []string{"ike", "cfg", "chd", "knl", "net", "esp"} {
		b.WriteString("      " + sub + " = 2\n")
	}
	b.WriteString("    }\n")
	b.WriteString("  }\n")
	for line := range strings.Lines(extra) {
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString("  " + line + "\n")
		}
	}
	b.WriteString("}\n")
	// swanctl reads this file too (STRONGSWAN_CONF); without a list it tries
	// plugins Debian does not ship and complains on stderr.
	b.WriteString("swanctl {\n")
	b.WriteString("  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random\n")
	b.WriteString("}\n")
	return b.String()
}

func (c *Charon) waitVICI(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if conn, err := net.Dial("unix", c.VICI); err == nil {
			conn.Close()
			return nil
		}
		if c.proc.Exited() {
			return fmt.Errorf("lab: charon in %s exited during start-up: %v", c.ns.Name, c.proc.Wait())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: charon in %s: no VICI socket at %s after %v", c.ns.Name, c.VICI, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Namespace returns the namespace charon runs in.
func (c *Charon) Namespace() *Namespace { return c.ns }

// Process returns charon's process (its PID is charon's own: ip, unshare and
// sh all exec the next step).
func (c *Charon) Process() *Process { return c.proc }

// LoadConfig writes swanctlConf to Dir/swanctl.conf (mode 0600: it holds
// secrets) and loads it with `swanctl --load-all`. swanctl runs with
// SWANCTL_DIR=Dir, so credentials come from Dir/x509, Dir/private, ...
// and never from /etc/swanctl.
func (c *Charon) LoadConfig(swanctlConf string) error {
	if err := os.WriteFile(c.swanctlC, []byte(swanctlConf), 0o600); err != nil {
		return fmt.Errorf("lab: write swanctl.conf: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Swanctl(ctx, "--load-all", "--noprompt", "--file", c.swanctlC)
	return err
}

// Swanctl runs `swanctl ARGS --uri unix://VICI` and returns its combined
// output; on failure the error carries the output.
func (c *Charon) Swanctl(ctx context.Context, args ...string) (string, error) {
	argv := append(append([]string(nil), args...), "--uri", "unix://"+c.VICI)
	cmd := exec.CommandContext(ctx, "swanctl", argv...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.conf, "SWANCTL_DIR="+c.Dir)
	out, err := runOutput(cmd, "swanctl "+strings.Join(args, " "))
	return string(out), err
}

// Stop stops charon by PID (SIGTERM, SIGKILL after StopTimeout) and waits
// for it. Charon removes its ipsec0 TUN device on the way out; the tmpfs
// /run disappears with its mount namespace. Stop is idempotent.
func (c *Charon) Stop() error { return c.proc.Stop() }

// Log returns charon's log file and, if charon wrote any, its stdout and
// stderr: what a failing test should print.
func (c *Charon) Log() string {
	var b strings.Builder
	if data, err := os.ReadFile(c.logPath); err == nil {
		b.Write(data)
	} else {
		fmt.Fprintf(&b, "(no charon log: %v)\n", err)
	}
	if data, err := os.ReadFile(c.outPath); err == nil && len(bytes.TrimSpace(data)) > 0 {
		b.WriteString("--- charon stdout/stderr ---\n")
		b.Write(data)
	}
	return b.String()
}
