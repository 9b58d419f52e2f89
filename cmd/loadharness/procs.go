package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process of the run, its output going to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // exit status, once done is closed
}

// startProc starts bin with args and env, pinned to cpus with taskset unless
// cpus is empty. taskset execs bin, so the pid is bin's.
func startProc(name, logPath, cpus string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cmd *exec.Cmd
	if cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C of the harness reaches the harness only, which
	// then stops its children in order. Should the harness die without stopping
	// them, they get SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n bytes of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitTCP waits until addr accepts connections or p exits.
func waitTCP(p *proc, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, p.tail(2000))
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %s:\n%s", p.name, addr, within, p.tail(2000))
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on Linux).
const userHZ = 100

// cpuTime returns the user+system CPU time a process has used so far, its
// exited threads included (/proc/<pid>/stat utime and stime).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the
	// last ')'. utime and stime are fields 14 and 15, so 12 and 13 after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// ioCalls returns the read and write system calls a process has made so far
// (/proc/<pid>/io syscr and syscw: read, write and their vector and
// positional forms, on sockets and files alike).
func ioCalls(pid int) (reads, writes int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "syscr" && name != "syscw") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/io %s: %w", pid, name, err)
		}
		found++
		if name == "syscr" {
			reads = n
		} else {
			writes = n
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/proc/%d/io: no syscr/syscw", pid)
	}
	return reads, writes, nil
}

// memory returns a process's resident set size and its peak (VmRSS, VmHWM), in
// KiB.
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if name == "VmRSS" {
			rss = kb
		} else {
			hwm = kb
		}
	}
	return rss, hwm, nil
}

// cpuTimes is one CPU's time so far, from /proc/stat.
type cpuTimes struct {
	busy  time.Duration // everything but idle, iowait and steal
	steal time.Duration // the hypervisor ran something else while this vCPU wanted to run
}

// coreTimes returns each CPU's times so far, indexed by CPU number.
func coreTimes() (map[int]cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseCoreTimes(b), nil
}

// parseCoreTimes reads the per-CPU lines of /proc/stat.
func parseCoreTimes(b []byte) map[int]cpuTimes {
	out := map[int]cpuTimes{}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var busy, steal uint64
		for j, v := range f[1:] {
			x, _ := strconv.ParseUint(v, 10, 64)
			switch {
			case j == 7:
				steal = x
			case j == 3 || j == 4 || j > 7: // idle, iowait; guest time is already in user
			default:
				busy += x
			}
		}
		out[n] = cpuTimes{busy: time.Duration(busy) * time.Second / userHZ, steal: time.Duration(steal) * time.Second / userHZ}
	}
	return out
}

// coreBusy returns the busy time of each CPU so far (/proc/stat: everything
// but idle, iowait and steal), indexed by CPU number.
func coreBusy() (map[int]time.Duration, error) {
	t, err := coreTimes()
	if err != nil {
		return nil, err
	}
	out := make(map[int]time.Duration, len(t))
	for n, c := range t {
		out[n] = c.busy
	}
	return out, nil
}

// firstCPU returns the first CPU of a taskset list such as "0", "1-3" or "0,2".
func firstCPU(list string) int {
	end := strings.IndexAny(list, ",-")
	if end < 0 {
		end = len(list)
	}
	n, err := strconv.Atoi(list[:end])
	if err != nil {
		return -1
	}
	return n
}

// pinSelf pins every thread of this process to cpus (threads created later
// inherit it).
func pinSelf(cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

// loadAvg returns /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel returns the processor's model name.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return "unknown CPU"
}
