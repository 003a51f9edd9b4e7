//go:build !linux

package server

// releaseStartupPages does nothing where the pages cannot be found.
func releaseStartupPages() {}
