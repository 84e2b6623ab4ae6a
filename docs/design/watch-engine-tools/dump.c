// sock_diag TCP dump timing / polling.
// dump bench -k K [-s statesmask] [-i (with INET_DIAG_INFO)]          : K dumps back to back, wall+cpu each
// dump poll -P period_ms -T seconds -p port [-s mask] -o file      : poll, record distinct (sport,dport) seen that touch port
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
static double mono(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double cpu(void){struct rusage r;getrusage(RUSAGE_SELF,&r);return r.ru_utime.tv_sec+r.ru_utime.tv_usec/1e6+r.ru_stime.tv_sec+r.ru_stime.tv_usec/1e6;}
static char buf[1<<16]; // berth-like 64 KiB? set via -b
static int fd; static unsigned seq=1;
static unsigned char *seen; // bitmap of client ports seen
typedef void (*cb_t)(struct inet_diag_msg*);
static long count;
static int port_f=0;
static void on_msg(struct inet_diag_msg*m){count++; if(port_f){int sp=ntohs(m->id.idiag_sport),dp=ntohs(m->id.idiag_dport);
   if(dp>=port_f && dp<port_f+10 && m->idiag_state==1) seen[sp]=1;}}
static int dump_one(int family,unsigned states,int ext,size_t bufsz){
  struct {struct nlmsghdr h; struct inet_diag_req_v2 r;} req; memset(&req,0,sizeof req);
  req.h.nlmsg_len=sizeof req; req.h.nlmsg_type=SOCK_DIAG_BY_FAMILY; req.h.nlmsg_flags=NLM_F_REQUEST|NLM_F_DUMP; req.h.nlmsg_seq=++seq;
  req.r.sdiag_family=family; req.r.sdiag_protocol=IPPROTO_TCP; req.r.idiag_states=states; req.r.idiag_ext=ext?(1<<(INET_DIAG_INFO-1)):0;
  if(send(fd,&req,sizeof req,0)<0){perror("send");return -1;}
  while(1){ssize_t len=recv(fd,buf,bufsz,0); if(len<0){if(errno==EINTR)continue;perror("recv");return -1;}
    for(struct nlmsghdr*h=(void*)buf;NLMSG_OK(h,len);h=NLMSG_NEXT(h,len)){
      if(h->nlmsg_type==NLMSG_DONE)return 0; if(h->nlmsg_type==NLMSG_ERROR){fprintf(stderr,"nlmsg error %d\n",((struct nlmsgerr*)NLMSG_DATA(h))->error);return -1;}
      on_msg(NLMSG_DATA(h));}}
}
int main(int argc,char**argv){
  char*mode=argv[1]; optind=2; int k=20,ext=0,opt; unsigned states=(1<<1)|(1<<10); double P=1000,T=5; char*out=NULL; size_t bufsz=sizeof buf;
  while((opt=getopt(argc,argv,"k:s:iP:T:p:o:b:"))!=-1){switch(opt){case 'k':k=atoi(optarg);break;case 's':states=strtoul(optarg,0,0);break;
    case 'i':ext=1;break;case 'P':P=atof(optarg);break;case 'T':T=atof(optarg);break;case 'p':port_f=atoi(optarg);break;case 'o':out=optarg;break;case 'b':bufsz=atol(optarg);break;}}
  fd=socket(AF_NETLINK,SOCK_RAW|SOCK_CLOEXEC,NETLINK_SOCK_DIAG); if(fd<0){perror("socket");return 1;}
  seen=calloc(65536,1);
  if(!strcmp(mode,"bench")){
    double ws[1000],cs[1000]; long n=0;
    for(int i=0;i<k&&i<1000;i++){count=0;double w0=mono(),c0=cpu(); dump_one(AF_INET,states,ext,bufsz); dump_one(AF_INET6,states,ext,bufsz); ws[i]=mono()-w0; cs[i]=cpu()-c0; n=count;}
    // sort
    for(int i=0;i<k;i++)for(int j=i+1;j<k;j++){if(ws[j]<ws[i]){double t=ws[i];ws[i]=ws[j];ws[j]=t;} if(cs[j]<cs[i]){double t=cs[i];cs[i]=cs[j];cs[j]=t;}}
    printf("uid=%d states=0x%x info=%d sockets=%ld dumps=%d wall ms min %.2f p50 %.2f max %.2f | cpu ms p50 %.2f max %.2f\n",getuid(),states,ext,n,k,ws[0]*1e3,ws[k/2]*1e3,ws[k-1]*1e3,cs[k/2]*1e3,cs[k-1]*1e3);
  } else {
    double t0=mono(); long dumps=0; double c0=cpu(), maxw=0;
    while(mono()-t0<T){ double due=t0+dumps*(P/1000.0); double w=due-mono(); if(w>0)usleep((useconds_t)(w*1e6));
      double a=mono(); count=0; dump_one(AF_INET,states,ext,bufsz); dump_one(AF_INET6,states,ext,bufsz); double d=mono()-a; if(d>maxw)maxw=d; dumps++; }
    FILE*f=fopen(out,"w"); long ns=0; for(int p=0;p<65536;p++)if(seen[p]){fprintf(f,"%d\n",p);ns++;} fclose(f);
    printf("POLL period=%.0fms dumps=%ld seen=%ld cpu=%.3fs over %.1fs max_dump_ms=%.2f sockets_last=%ld\n",P,dumps,ns,cpu()-c0,mono()-t0,maxw*1e3,count);
  }
  return 0;
}
