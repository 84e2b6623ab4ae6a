// bounded loopback load generator.
// gen conn -n N [-r rate/s] [-l life_us] [-d bytes] [-R (client RST close)] [-6] [-T max_s] [-o log]
// gen listen -n N -l life_us [-6] [-T max_s] [-o log]   (listeners, each lives life_us)
// gen udp -n N [-l life_us] [-6] [-o log]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static double mono(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double rt(void){struct timespec t;clock_gettime(CLOCK_REALTIME,&t);return t.tv_sec+t.tv_nsec/1e9;}
static void spin_us(long us){ if(us<=0)return; if(us>=200){struct timespec ts={us/1000000,(us%1000000)*1000};nanosleep(&ts,0);return;} double e=mono()+us/1e6; while(mono()<e); }
static int v6=0;
static socklen_t mkaddr(struct sockaddr_storage*ss,int port){memset(ss,0,sizeof *ss);
  if(v6){struct sockaddr_in6*a=(void*)ss;a->sin6_family=AF_INET6;a->sin6_port=htons(port);a->sin6_addr=in6addr_loopback;return sizeof *a;}
  struct sockaddr_in*a=(void*)ss;a->sin_family=AF_INET;a->sin_port=htons(port);a->sin_addr.s_addr=htonl(INADDR_LOOPBACK);return sizeof *a;}
static int portof(int fd){struct sockaddr_storage ss;socklen_t l=sizeof ss;getsockname(fd,(void*)&ss,&l);return ntohs(((struct sockaddr_in*)&ss)->sin_port);}
int main(int argc,char**argv){
  if(argc<2){fprintf(stderr,"mode?\n");return 2;}
  char*mode=argv[1]; optind=2; long n=1000,life=0,bytes=0; double rate=0,maxs=30; int rst=0,opt,fport=0; char*logp=NULL;
  while((opt=getopt(argc,argv,"n:r:l:d:R6T:o:P:"))!=-1){switch(opt){
    case 'n':n=atol(optarg);break;case 'r':rate=atof(optarg);break;case 'l':life=atol(optarg);break;case 'd':bytes=atol(optarg);break;
    case 'R':rst=1;break;case '6':v6=1;break;case 'T':maxs=atof(optarg);break;case 'o':logp=optarg;break;case 'P':fport=atoi(optarg);break;}}
  FILE*lg=logp?fopen(logp,"w"):NULL; int fam=v6?AF_INET6:AF_INET;
  struct sockaddr_storage ss; socklen_t sl; double t0=mono(); long done=0,errs=0; char*buf=calloc(1,bytes+1);
  if(!strcmp(mode,"conn")){
    int L=socket(fam,SOCK_STREAM,0); int one=1; setsockopt(L,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
    sl=mkaddr(&ss,fport); if(bind(L,(void*)&ss,sl)||listen(L,4096)){perror("listen");return 1;}
    int lport=portof(L); fprintf(stderr,"listener port %d\n",lport); printf("LPORT %d\n",lport); fflush(stdout);
    for(long i=0;i<n;i++){
      if(mono()-t0>maxs)break;
      if(rate>0){double due=t0+i/rate; double w=due-mono(); if(w>0)spin_us((long)(w*1e6));}
      int c=socket(fam,SOCK_STREAM,0); sl=mkaddr(&ss,lport);
      double ts=rt();
      if(connect(c,(void*)&ss,sl)){errs++;close(c);if(errs<5)perror("connect");continue;}
      int s=accept(L,0,0); if(s<0){errs++;close(c);continue;}
      int cport=portof(c);
      if(bytes){ if(write(c,buf,bytes)<0)errs++; long got=0; while(got<bytes){ssize_t r=read(s,buf,bytes-got);if(r<=0)break;got+=r;}
                 if(write(s,buf,bytes)<0)errs++; got=0; while(got<bytes){ssize_t r=read(c,buf,bytes-got);if(r<=0)break;got+=r;} }
      spin_us(life);
      if(rst){struct linger lin={1,0};setsockopt(c,SOL_SOCKET,SO_LINGER,&lin,sizeof lin);}
      close(c); close(s); double te=rt();
      if(lg)fprintf(lg,"%d %.6f %.6f\n",cport,ts,te);
      done++;
    }
    close(L);
  } else if(!strcmp(mode,"listen")){
    for(long i=0;i<n;i++){ if(mono()-t0>maxs)break;
      int L=socket(fam,SOCK_STREAM,0); sl=mkaddr(&ss,0); double ts=rt();
      if(bind(L,(void*)&ss,sl)||listen(L,16)){errs++;close(L);continue;}
      int p=portof(L); spin_us(life); close(L); double te=rt(); if(lg)fprintf(lg,"%d %.6f %.6f\n",p,ts,te); done++; }
  } else if(!strcmp(mode,"udp")){
    for(long i=0;i<n;i++){ if(mono()-t0>maxs)break;
      int u=socket(fam,SOCK_DGRAM,0); sl=mkaddr(&ss,0); double ts=rt();
      if(bind(u,(void*)&ss,sl)){errs++;close(u);continue;}
      int p=portof(u); sl=mkaddr(&ss,p); sendto(u,"x",1,0,(void*)&ss,sl); spin_us(life); close(u); double te=rt();
      if(lg)fprintf(lg,"%d %.6f %.6f\n",p,ts,te); done++; }
  }
  double el=mono()-t0;
  printf("GEN mode=%s done=%ld errs=%ld elapsed=%.3fs rate=%.0f/s\n",mode,done,errs,el,done/el);
  if(lg)fclose(lg); return 0;
}
