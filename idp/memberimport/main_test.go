package memberimport

import (
	"os"
	"testing"

	"github.com/communityidp/idp/idp/testskip"
)

func TestMain(m *testing.M) { os.Exit(testskip.Main(m)) }
