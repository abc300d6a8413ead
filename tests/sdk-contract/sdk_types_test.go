package sdkcontract

// Structs with the SDK's JSON field names. Each comment names the SDK file it follows. Fields
// the SDK marks `omitempty` are optional in answers; every other field must be present (see
// requireFields).

// identity/v2/identity_response.go
type getAccessTokenResponse struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	TokenType        string `json:"token_type"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
}

// sdk_error: IAM error body (errors[].code, AUTHENTICATION_FAILED, TOO_MANY_FAILED_LOGINS)
type iamErrorResponse struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// sdk_error: vLB / vServer error body
type normalErrorResponse struct {
	Message string `json:"message"`
}

// loadbalancer/v2/loadbalancer_response.go
type uuidResponse struct {
	UUID string `json:"uuid"`
}

type loadBalancerPackage struct {
	UUID             string `json:"uuid"`
	Name             string `json:"name"`
	Type             string `json:"type"`
	ConnectionNumber int    `json:"connectionNumber"`
	DataTransfer     int    `json:"dataTransfer"`
	Mode             string `json:"mode"`
	LbType           string `json:"lbType"`
	DisplayLbType    string `json:"displayLbType"`
}

type listLoadBalancerPackagesResponse struct {
	ListData []loadBalancerPackage `json:"listData"`
}

type lbNode struct {
	Status   string `json:"status"`
	ZoneID   string `json:"zoneId"`
	ZoneName string `json:"zoneName"`
	SubnetID string `json:"subnetId"`
}

type loadBalancer struct {
	UUID               string `json:"uuid"`
	Name               string `json:"name"`
	DisplayStatus      string `json:"displayStatus"`
	Address            string `json:"address"`
	PrivateSubnetID    string `json:"privateSubnetId"`
	PrivateSubnetCidr  string `json:"privateSubnetCidr"`
	Type               string `json:"type"`
	DisplayType        string `json:"displayType"`
	LoadBalancerSchema string `json:"loadBalancerSchema"`
	PackageID          string `json:"packageId"`
	Description        string `json:"description"`
	Location           string `json:"location"`
	CreatedAt          string `json:"createdAt"`
	UpdatedAt          string `json:"updatedAt"`
	BackendSubnetID    string `json:"backendSubnetId"`
	PackageInfo        struct {
		PackageID        string `json:"packageId"`
		ConnectionNumber int    `json:"connectionNumber"`
		DataTransfer     int    `json:"dataTransfer"`
		Name             string `json:"name"`
	} `json:"packageInfo"`
	ProgressStatus string `json:"progressStatus"`
	AutoScalable   bool   `json:"autoScalable"`
	Zone           struct {
		UUID string `json:"uuid"`
	} `json:"zone"`
	MinSize    int      `json:"minSize"`
	MaxSize    int      `json:"maxSize"`
	TotalNodes int      `json:"totalNodes"`
	Nodes      []lbNode `json:"nodes"`
}

type getLoadBalancerByIdResponse struct {
	Data loadBalancer `json:"data"`
}

type listLoadBalancersResponse struct {
	ListData  []loadBalancer `json:"listData"`
	Page      int            `json:"page"`
	PageSize  int            `json:"pageSize"`
	TotalPage int            `json:"totalPage"`
	TotalItem int            `json:"totalItem"`
}

// entity/listener.go ListenerInsertHeader
type insertHeader struct {
	HeaderName  string `json:"headerName"`
	HeaderValue string `json:"headerValue"`
}

// loadbalancer/v2/listener_response.go
type listener struct {
	UUID                            string         `json:"uuid"`
	Name                            string         `json:"name"`
	Description                     string         `json:"description,omitempty"`
	Protocol                        string         `json:"protocol"`
	ProtocolPort                    int            `json:"protocolPort"`
	ConnectionLimit                 int            `json:"connectionLimit"`
	DefaultPoolId                   string         `json:"defaultPoolId"`
	DefaultPoolName                 string         `json:"defaultPoolName"`
	TimeoutClient                   int            `json:"timeoutClient"`
	TimeoutMember                   int            `json:"timeoutMember"`
	TimeoutConnection               int            `json:"timeoutConnection"`
	AllowedCidrs                    string         `json:"allowedCidrs"`
	CertificateAuthorities          []string       `json:"certificateAuthorities"`
	DisplayStatus                   string         `json:"displayStatus"`
	CreatedAt                       string         `json:"createdAt"`
	UpdatedAt                       string         `json:"updatedAt"`
	DefaultCertificateAuthority     *string        `json:"defaultCertificateAuthority"`
	ClientCertificateAuthentication *string        `json:"clientCertificateAuthentication"`
	ProgressStatus                  string         `json:"progressStatus"`
	InsertHeaders                   []insertHeader `json:"insertHeaders"`
}

type listListenersResponse struct {
	Data []listener `json:"data"`
}

type getListenerByIdResponse struct {
	Data listener `json:"data"`
}

// loadbalancer/v2/pool_response.go
type poolMember struct {
	Address        string `json:"address"`
	Backup         bool   `json:"backup"`
	CreatedAt      string `json:"createdAt"`
	DisplayStatus  string `json:"displayStatus"`
	MonitorPort    int    `json:"monitorPort"`
	Name           string `json:"name"`
	PoolID         string `json:"poolId"`
	ProgressStatus string `json:"progressStatus"`
	ProtocolPort   int    `json:"protocolPort"`
	SubnetID       string `json:"subnetId"`
	TypeCreate     string `json:"typeCreate"`
	UpdateAt       string `json:"updateAt,omitempty"`
	UUID           string `json:"uuid"`
	Weight         int    `json:"weight"`
}

type pool struct {
	UUID              string       `json:"uuid"`
	Name              string       `json:"name"`
	Protocol          string       `json:"protocol"`
	Description       string       `json:"description,omitempty"`
	LoadBalanceMethod string       `json:"loadBalanceMethod"`
	DisplayStatus     string       `json:"displayStatus"`
	CreatedAt         string       `json:"createdAt"`
	UpdatedAt         string       `json:"updatedAt"`
	Stickiness        bool         `json:"stickiness"`
	TLSEncryption     bool         `json:"tlsEncryption"`
	ProgressStatus    string       `json:"progressStatus"`
	Members           []poolMember `json:"members"`
}

type listPoolsResponse struct {
	Data []pool `json:"data"`
}

type listPoolMembersResponse struct {
	Data []poolMember `json:"data"`
}

type healthMonitor struct {
	UUID                string  `json:"uuid"`
	Timeout             int     `json:"timeout"`
	CreatedAt           string  `json:"createdAt"`
	UpdatedAt           string  `json:"updatedAt"`
	DomainName          *string `json:"domainName"`
	HttpVersion         *string `json:"httpVersion"`
	HealthCheckProtocol string  `json:"healthCheckProtocol"`
	Interval            int     `json:"interval"`
	HealthyThreshold    int     `json:"healthyThreshold"`
	UnhealthyThreshold  int     `json:"unhealthyThreshold"`
	HealthCheckMethod   *string `json:"healthCheckMethod"`
	HealthCheckPath     *string `json:"healthCheckPath"`
	SuccessCode         *string `json:"successCode"`
	ProgressStatus      string  `json:"progressStatus"`
	DisplayStatus       string  `json:"displayStatus"`
}

type getHealthMonitorResponse struct {
	Data healthMonitor `json:"data"`
}

// loadbalancer/v2/policy_response.go
type l7Rule struct {
	UUID               string `json:"uuid"`
	CompareType        string `json:"compareType"`
	RuleValue          string `json:"ruleValue"`
	RuleType           string `json:"ruleType"`
	CreatedAt          string `json:"createdAt"`
	UpdatedAt          string `json:"updatedAt"`
	ProvisioningStatus string `json:"provisioningStatus"`
	OperatingStatus    string `json:"operatingStatus"`
}

type policy struct {
	UUID             string   `json:"uuid"`
	Name             string   `json:"name"`
	Description      string   `json:"description"`
	RedirectPoolID   string   `json:"redirectPoolId"`
	RedirectPoolName string   `json:"redirectPoolName"`
	Action           string   `json:"action"`
	RedirectURL      string   `json:"redirectUrl"`
	RedirectHTTPCode int      `json:"redirectHttpCode"`
	KeepQueryString  bool     `json:"keepQueryString"`
	Position         int      `json:"position"`
	L7Rules          []l7Rule `json:"l7Rules"`
	DisplayStatus    string   `json:"displayStatus"`
	CreatedAt        string   `json:"createdAt"`
	UpdatedAt        string   `json:"updatedAt"`
	ProgressStatus   string   `json:"progressStatus"`
}

type listPoliciesResponse struct {
	ListData  []policy `json:"data"`
	Page      int      `json:"page"`
	PageSize  int      `json:"pageSize"`
	TotalPage int      `json:"totalPage"`
	TotalItem int      `json:"totalItem"`
}

type getPolicyResponse struct {
	Data policy `json:"data"`
}

// loadbalancer/v2/certificate_response.go
type certificate struct {
	UUID               string `json:"uuid"`
	Name               string `json:"name"`
	CertificateType    string `json:"certificateType"`
	ExpiredAt          string `json:"expiredAt"`
	ImportedAt         string `json:"importedAt"`
	NotAfter           int64  `json:"notAfter"`
	KeyAlgorithm       string `json:"keyAlgorithm"`
	Serial             string `json:"serial"`
	Subject            string `json:"subject"`
	DomainName         string `json:"domainName"`
	InUse              bool   `json:"inUse"`
	Issuer             string `json:"issuer"`
	SignatureAlgorithm string `json:"signatureAlgorithm"`
	NotBefore          int64  `json:"notBefore"`
}

type listCertificatesResponse struct {
	ListData  []certificate `json:"listData"`
	Page      int           `json:"page"`
	PageSize  int           `json:"pageSize"`
	TotalPage int           `json:"totalPage"`
	TotalItem int           `json:"totalItem"`
}

type createCertificateResponse struct {
	Data certificate `json:"data"`
}

// loadbalancer/v2/tag_response.go (a bare list; null when untagged)
type tagResponse struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	CreatedAt string `json:"createdAt"`
	SystemTag bool   `json:"systemTag,omitempty"`
}

// network/v2/secgroup_response.go
type secgroup struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	CreatedAt   string `json:"createdAt"`
	IsSystem    bool   `json:"isSystem"`
}

type getSecgroupResponse struct {
	Data secgroup `json:"data"`
}

type listSecgroupResponse struct {
	ListData  []secgroup `json:"listData"`
	Page      int        `json:"page"`
	PageSize  int        `json:"pageSize"`
	TotalPage int        `json:"totalPage"`
	TotalItem int        `json:"totalItem"`
}

type createSecgroupResponse struct {
	Data struct {
		ID           int     `json:"id"`
		UUID         string  `json:"uuid"`
		CreatedAt    string  `json:"createdAt"`
		DeletedAt    *string `json:"deletedAt,omitempty"`
		Status       string  `json:"status"`
		SecgroupId   int     `json:"secgroupId"`
		SecgroupName string  `json:"secgroupName"`
		ProjectUuid  string  `json:"projectUuid"`
		Description  string  `json:"description"`
		UpdatedAt    *string `json:"updatedAt,omitempty"`
		IsSystem     bool    `json:"isSystem"`
		Type         string  `json:"type"`
	} `json:"data"`
}

// network/v2/secgroup_rule_response.go
type createSecgroupRuleResponse struct {
	Data struct {
		ID             int     `json:"id"`
		UUID           string  `json:"uuid"`
		CreatedAt      string  `json:"createdAt"`
		DeletedAt      *string `json:"deletedAt,omitempty"`
		UpdatedAt      *string `json:"updatedAt,omitempty"`
		Status         string  `json:"status"`
		SecgroupUuid   string  `json:"secgroupUuid"`
		Direction      string  `json:"direction"`
		EtherType      string  `json:"etherType"`
		PortRangeMax   int     `json:"portRangeMax"`
		PortRangeMin   int     `json:"portRangeMin"`
		Protocol       string  `json:"protocol"`
		RuleId         int     `json:"ruleId"`
		Description    string  `json:"description"`
		RemoteIpPrefix string  `json:"remoteIpPrefix"`
		IsSystem       bool    `json:"isSystem"`
	} `json:"data"`
}

type secgroupRule struct {
	ID             string `json:"id"`
	Direction      string `json:"direction"`
	EtherType      string `json:"etherType"`
	Protocol       string `json:"protocol"`
	PortRangeMin   int    `json:"portRangeMin"`
	PortRangeMax   int    `json:"portRangeMax"`
	RemoteIpPrefix string `json:"remoteIpPrefix"`
	RemoteGroupId  string `json:"remoteGroupId"`
	Status         string `json:"status"`
	Description    string `json:"description"`
	CreatedAt      string `json:"createdAt"`
}

type listSecgroupRulesResponse struct {
	Data []secgroupRule `json:"data"`
}

// network/v2/server_response.go
type listServersBySecgroupResponse struct {
	Data []struct {
		Name   string `json:"name"`
		UUID   string `json:"uuid"`
		Status string `json:"status"`
	} `json:"data"`
}

// network/v2/subnet_response.go
type getSubnetResponse struct {
	UUID                   string `json:"uuid"`
	CreatedAt              string `json:"createdAt"`
	UpdatedAt              string `json:"updatedAt,omitempty"`
	Status                 string `json:"status"`
	Cidr                   string `json:"cidr"`
	NetworkUuid            string `json:"networkUuid"`
	RouteTableUuid         string `json:"routeTableUuid,omitempty"`
	Name                   string `json:"name"`
	InterfaceAclPolicyUuid string `json:"interfaceAclPolicyUuid,omitempty"`
	InterfaceAclPolicyName string `json:"interfaceAclPolicyName,omitempty"`
	SecondarySubnets       []struct {
		UUID string `json:"uuid"`
		Name string `json:"name"`
		Cidr string `json:"cidr"`
	} `json:"secondarySubnets,omitempty"`
	Zone struct {
		UUID string `json:"uuid"`
	} `json:"zone"`
}

// compute/v2/server_response.go
type networkInterface struct {
	CreatedAt     string `json:"createdAt"`
	FixedIp       string `json:"fixedIp"`
	FloatingIp    string `json:"floatingIp,omitempty"`
	FloatingIpId  string `json:"floatingIpId,omitempty"`
	InterfaceType string `json:"interfaceType"`
	Mac           string `json:"mac"`
	NetworkUuid   string `json:"networkUuid"`
	PortUuid      string `json:"portUuid"`
	Product       string `json:"product"`
	ServerUuid    string `json:"serverUuid"`
	Status        string `json:"status"`
	SubnetUuid    string `json:"subnetUuid"`
	Type          string `json:"type"`
	UpdatedAt     string `json:"updatedAt"`
	Uuid          string `json:"uuid"`
}

type server struct {
	BootVolumeId      string `json:"bootVolumeId"`
	CreatedAt         string `json:"createdAt"`
	EncryptionVolume  bool   `json:"encryptionVolume"`
	Licence           bool   `json:"licence"`
	Location          string `json:"location"`
	Metadata          string `json:"metadata"`
	MigrateState      string `json:"migrateState"`
	Name              string `json:"name"`
	Product           string `json:"product"`
	ServerGroupId     string `json:"serverGroupId"`
	ServerGroupName   string `json:"serverGroupName"`
	SshKeyName        string `json:"sshKeyName"`
	Status            string `json:"status"`
	StopBeforeMigrate bool   `json:"stopBeforeMigrate"`
	User              string `json:"user"`
	Uuid              string `json:"uuid"`
	Image             struct {
		FlavorZoneIds []string `json:"flavorZoneIds"`
		Id            string   `json:"id"`
		ImageType     string   `json:"imageType"`
		ImageVersion  string   `json:"imageVersion"`
		Licence       bool     `json:"licence"`
		PackageLimit  struct {
			Cpu      int64 `json:"cpu"`
			DiskSize int64 `json:"diskSize"`
			Memory   int64 `json:"memory"`
		} `json:"packageLimit"`
	} `json:"image"`
	Flavor struct {
		Bandwidth              int64  `json:"bandwidth"`
		BandwidthUnit          string `json:"bandwidthUnit"`
		Cpu                    int64  `json:"cpu"`
		CpuPlatformDescription string `json:"cpuPlatformDescription"`
		FlavorId               string `json:"flavorId"`
		Gpu                    int64  `json:"gpu"`
		Group                  string `json:"group"`
		Memory                 int64  `json:"memory"`
		MetaData               string `json:"metaData"`
		Name                   string `json:"name"`
		RemainingVms           int64  `json:"remainingVms"`
		ZoneId                 string `json:"zoneId"`
	} `json:"flavor"`
	SecGroups []struct {
		Name string `json:"name"`
		Uuid string `json:"uuid"`
	} `json:"secGroups"`
	ZoneId             string             `json:"zoneId"`
	ExternalInterfaces []networkInterface `json:"externalInterfaces"`
	InternalInterfaces []networkInterface `json:"internalInterfaces"`
}

type getServerResponse struct {
	Data server `json:"data"`
}
