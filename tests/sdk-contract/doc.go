// Package sdkcontract drives the vlb VNGCloud emulator over HTTP the way the official Go SDK
// (github.com/vngcloud/vngcloud-go-sdk, module v2) does, making the calls the Go controller
// (GreenNodeHub/vngcloud-load-balancer-controller, internal/repository/vngcloud_repo) makes,
// and reads the answers as the Go controller reads them.
//
// The SDK module is not served by the Go module proxy, so it cannot be a dependency here: the
// request and response structs below are this package's own, carrying the SDK's JSON field
// names (vngcloud/services/*/v2/*_request.go, *_response.go). The module uses the standard
// library only.
//
// Run it with scripts/test.d/60-sdk-contract.sh, which starts the emulator and sets
// VLB_EMULATOR_URL (and VLB_FIXTURE, the fixture file the emulator was started with).
package sdkcontract
