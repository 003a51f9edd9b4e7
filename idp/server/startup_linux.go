package server

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// releaseStartupPages unmaps the pages of the program's own read-only
// segments (code, constants, the function tables) from the process. Every
// package's initialisation and the start-up (configuration, migrations,
// templates, catalogs) touch code spread over the whole binary, and the
// kernel maps the neighbours of each page touched: after start-up nearly
// all 20 MB of code was resident, most of it never run again. The pages
// stay in the page cache; what is used again is mapped back on its first
// use. Only mappings without write permission are released, so no data
// can be lost.
func releaseStartupPages() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	released := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-01682000 r-xp 00000000 08:01 1234 /usr/local/bin/idp
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			slog.Debug("release start-up pages", "error", fmt.Errorf("madvise: %w", errno))
			return
		}
		released += int(end - start)
	}
	slog.Debug("released the start-up pages of the binary", "mapped_mb", released>>20)
}
