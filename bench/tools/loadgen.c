// bench/tools/loadgen.c: a bounded loopback load generator for bench/watch.py.
// Derived from docs/design/watch-engine-tools/gen.c (the generator the watch-engine
// measurements were made with); the bench compiles it with gcc on first use.
//
//   loadgen conn   -n N [-r rate/s] [-l life_us] [-d bytes] [-R] [-6] [-T max_s] [-o log] [-P port]
//       N connections to a listener of its own (port 0 unless -P), paced at rate/s
//       (evenly spread: connection i is due at i/rate), each exchanging `bytes` each
//       way and closed with FIN (RST with -R) by the client first, then the server.
//       Prints "LPORT p" first; logs "client_port open_us close_us" per connection,
//       CLOCK_REALTIME microseconds, close_us taken right after the client's close().
//   loadgen listen -n N -l life_us [-6] [-T max_s] [-o log]   listeners living life_us each
//   loadgen spin   -T max_s                                    burn one core for max_s (--busy)
//
// Every loop is bounded by its count and by -T seconds (default 30). The log is kept
// in memory and written at the end, so that logging costs nothing during the load.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static double mono(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static long long rt_us(void){struct timespec t;clock_gettime(CLOCK_REALTIME,&t);return (long long)t.tv_sec*1000000LL+t.tv_nsec/1000;}
static void spin_us(long us){ if(us<=0)return; if(us>=200){struct timespec ts={us/1000000,(us%1000000)*1000};nanosleep(&ts,0);return;} double e=mono()+us/1e6; while(mono()<e); }
static volatile sig_atomic_t stop=0;
static void on_signal(int s){(void)s;stop=1;}
static int v6=0;
static socklen_t mkaddr(struct sockaddr_storage*ss,int port){memset(ss,0,sizeof *ss);
  if(v6){struct sockaddr_in6*a=(void*)ss;a->sin6_family=AF_INET6;a->sin6_port=htons(port);a->sin6_addr=in6addr_loopback;return sizeof *a;}
  struct sockaddr_in*a=(void*)ss;a->sin_family=AF_INET;a->sin_port=htons(port);a->sin_addr.s_addr=htonl(INADDR_LOOPBACK);return sizeof *a;}
static int portof(int fd){struct sockaddr_storage ss;socklen_t l=sizeof ss;if(getsockname(fd,(void*)&ss,&l))return -1;
  if(ss.ss_family==AF_INET6)return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in*)&ss)->sin_port);}
struct rec{int port;long long open_us,close_us;};
static int readn(int fd,char*buf,long n){long got=0;while(got<n){ssize_t r=read(fd,buf+got,n-got);if(r<=0)return -1;got+=r;}return 0;}

int main(int argc,char**argv){
  if(argc<2){fprintf(stderr,"usage: loadgen conn|listen|spin [options] (see the comment at the top of loadgen.c)\n");return 2;}
  char*mode=argv[1]; optind=2; long n=1000,life=0,bytes=0; double rate=0,maxs=30; int rst=0,opt,fport=0; char*logp=NULL;
  while((opt=getopt(argc,argv,"n:r:l:d:R6T:o:P:"))!=-1){switch(opt){
    case 'n':n=atol(optarg);break;case 'r':rate=atof(optarg);break;case 'l':life=atol(optarg);break;case 'd':bytes=atol(optarg);break;
    case 'R':rst=1;break;case '6':v6=1;break;case 'T':maxs=atof(optarg);break;case 'o':logp=optarg;break;case 'P':fport=atoi(optarg);break;
    default:return 2;}}
  signal(SIGINT,on_signal); signal(SIGTERM,on_signal); signal(SIGPIPE,SIG_IGN);
  int fam=v6?AF_INET6:AF_INET; struct sockaddr_storage ss; socklen_t sl; double t0=mono(); long done=0,errs=0;
  if(n<0)n=0;
  if(n>10000000)n=10000000;
  struct rec*recs=calloc(n?n:1,sizeof *recs); char*buf=calloc(1,bytes+1);
  if(!recs||!buf){fprintf(stderr,"out of memory\n");return 1;}
  if(!strcmp(mode,"spin")){ volatile unsigned long x=0; while(!stop && mono()-t0<maxs){ for(int i=0;i<100000;i++)x++; } printf("GEN mode=spin elapsed=%.3fs\n",mono()-t0); return 0; }
  if(!strcmp(mode,"conn")){
    int L=socket(fam,SOCK_STREAM,0); int one=1; setsockopt(L,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
    sl=mkaddr(&ss,fport); if(bind(L,(void*)&ss,sl)||listen(L,4096)){perror("listen");return 1;}
    int lport=portof(L); printf("LPORT %d\n",lport); fflush(stdout);
    for(long i=0;i<n && !stop;i++){
      if(mono()-t0>maxs)break;
      if(rate>0){double due=t0+i/rate; double w=due-mono(); if(w>0)spin_us((long)(w*1e6));}
      int c=socket(fam,SOCK_STREAM,0); if(c<0){errs++;continue;} sl=mkaddr(&ss,lport);
      long long ts=rt_us();
      if(connect(c,(void*)&ss,sl)){errs++;close(c);if(errs<5)perror("connect");continue;}
      int s=accept(L,0,0); if(s<0){errs++;close(c);continue;}
      int cport=portof(c);
      if(bytes){ if(write(c,buf,bytes)!=bytes||readn(s,buf,bytes)||write(s,buf,bytes)!=bytes||readn(c,buf,bytes))errs++; }
      spin_us(life);
      if(rst){struct linger lin={1,0};setsockopt(c,SOL_SOCKET,SO_LINGER,&lin,sizeof lin);}
      close(c); long long te=rt_us(); close(s);
      recs[done].port=cport; recs[done].open_us=ts; recs[done].close_us=te; done++;
    }
    close(L);
  } else if(!strcmp(mode,"listen")){
    for(long i=0;i<n && !stop;i++){ if(mono()-t0>maxs)break;
      int L=socket(fam,SOCK_STREAM,0); sl=mkaddr(&ss,0); long long ts=rt_us();
      if(L<0||bind(L,(void*)&ss,sl)||listen(L,16)){errs++;if(L>=0)close(L);continue;}
      int p=portof(L); spin_us(life); close(L); long long te=rt_us();
      recs[done].port=p; recs[done].open_us=ts; recs[done].close_us=te; done++; }
  } else { fprintf(stderr,"unknown mode %s\n",mode); return 2; }
  double el=mono()-t0;
  if(logp){ FILE*lg=fopen(logp,"w"); if(!lg){perror(logp);return 1;}
    for(long i=0;i<done;i++)fprintf(lg,"%d %lld %lld\n",recs[i].port,recs[i].open_us,recs[i].close_us);
    if(fclose(lg)){perror(logp);return 1;} }
  printf("GEN mode=%s done=%ld errs=%ld elapsed=%.3fs rate=%.0f/s\n",mode,done,errs,el,el>0?done/el:0.0);
  return 0;
}
