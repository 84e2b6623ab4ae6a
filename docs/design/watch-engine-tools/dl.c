// destroy-group listener: joins SKNLGRP_* groups, prints or counts destroy messages.
// usage: dl [-v] [-b rcvbuf] [-f (use SO_RCVBUFFORCE)] [-t max_seconds] [-i idle_ms] [-p portlo:porthi] [-n no_enobufs]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <time.h>
#include <poll.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <linux/tcp.h>
#include <sys/resource.h>

static double now_rt(void){struct timespec t;clock_gettime(CLOCK_REALTIME,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double now_mono(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}

int main(int argc,char**argv){
  int verbose=0,force=0,opt,noenobufs=0; double sleep_s=0; int drain=0; long rcvbuf=0; double maxs=10; int idle_ms=0; int plo=0,phi=65535;
  while((opt=getopt(argc,argv,"vb:ft:i:p:nS:D"))!=-1){
    switch(opt){case 'v':verbose=1;break;case 'b':rcvbuf=atol(optarg);break;case 'f':force=1;break;
    case 't':maxs=atof(optarg);break;case 'i':idle_ms=atoi(optarg);break;case 'n':noenobufs=1;break;case 'S':sleep_s=atof(optarg);break;case 'D':drain=1;break;
    case 'p':sscanf(optarg,"%d:%d",&plo,&phi);break;}
  }
  int fd=socket(AF_NETLINK,SOCK_RAW|SOCK_CLOEXEC,NETLINK_SOCK_DIAG);
  if(fd<0){perror("socket");return 1;}
  if(rcvbuf){
    int v=rcvbuf; int r=setsockopt(fd,SOL_SOCKET,force?SO_RCVBUFFORCE:SO_RCVBUF,&v,sizeof v);
    fprintf(stderr,"setsockopt(%s,%ld)=%d %s\n",force?"SO_RCVBUFFORCE":"SO_RCVBUF",rcvbuf,r,r?strerror(errno):"");
  }
  int got; socklen_t gl=sizeof got; getsockopt(fd,SOL_SOCKET,SO_RCVBUF,&got,&gl);
  fprintf(stderr,"effective SO_RCVBUF=%d uid=%d euid=%d\n",got,getuid(),geteuid());
  if(noenobufs){int one=1;int r=setsockopt(fd,SOL_NETLINK,NETLINK_NO_ENOBUFS,&one,sizeof one);fprintf(stderr,"NO_ENOBUFS=%d\n",r);}
  struct sockaddr_nl sa={.nl_family=AF_NETLINK};
  if(bind(fd,(struct sockaddr*)&sa,sizeof sa)){perror("bind");}
  const char*names[]={"","INET_TCP_DESTROY","INET_UDP_DESTROY","INET6_TCP_DESTROY","INET6_UDP_DESTROY"};
  for(int g=1;g<=4;g++){int r=setsockopt(fd,SOL_NETLINK,NETLINK_ADD_MEMBERSHIP,&g,sizeof g);
    fprintf(stderr,"join %d %s: %s\n",g,names[g],r?strerror(errno):"ok");}
  fprintf(stderr,"READY\n"); fflush(stderr); if(sleep_s>0)usleep((useconds_t)(sleep_s*1e6));
  static char buf[1<<20];
  double t0=now_mono(), last=t0; long msgs=0,inrange=0,recvs=0,enobufs=0,other=0; double first_ev=0,last_ev=0;
  long st_count[16]={0}; unsigned long long prevc=0,cgap=0,cback=0;
  unsigned long long sum_acked=0,sum_recv=0;
  while(1){
    double n=now_mono(); if(n-t0>maxs)break; if(idle_ms && msgs>0 && (n-last)*1000>idle_ms)break;
    static int again=0; if(!(drain&&again)){struct pollfd p={fd,POLLIN,0}; int pr=poll(&p,1,100); if(pr<=0)continue;} again=1;
    ssize_t len=recv(fd,buf,sizeof buf,MSG_DONTWAIT);
    if(len<0){ if(errno==ENOBUFS){enobufs++; fprintf(stderr,"ENOBUFS at +%.3fs after %ld msgs\n",now_mono()-t0,msgs);continue;}
      if(errno==EAGAIN){again=0;continue;} perror("recv"); break;}
    recvs++; last=now_mono();
    for(struct nlmsghdr*h=(void*)buf;NLMSG_OK(h,len);h=NLMSG_NEXT(h,len)){
      if(h->nlmsg_type!=SOCK_DIAG_BY_FAMILY){other++;continue;}
      msgs++;
      struct inet_diag_msg*m=NLMSG_DATA(h);
      int sp=ntohs(m->id.idiag_sport),dp=ntohs(m->id.idiag_dport);
      int in=(sp>=plo&&sp<=phi)||(dp>=plo&&dp<=phi);
      if(in){unsigned long long ck=((unsigned long long)m->id.idiag_cookie[1]<<32)|m->id.idiag_cookie[0]; if(prevc){ if(ck>prevc+1 && ck-prevc<1000000)cgap+=ck-prevc-1; else if(ck<=prevc)cback++;} prevc=ck; inrange++; if(!first_ev)first_ev=now_rt(); last_ev=now_rt(); st_count[m->idiag_state&15]++;}
      int proto=-1; struct tcp_info*ti=NULL; int tilen=0; char attrs[256]; int ap=0; attrs[0]=0;
      struct rtattr*a=(void*)((char*)m+NLMSG_ALIGN(sizeof *m)); int alen=h->nlmsg_len-NLMSG_LENGTH(sizeof *m);
      for(;RTA_OK(a,alen);a=RTA_NEXT(a,alen)){
        ap+=snprintf(attrs+ap,sizeof attrs-ap,"%d(%d) ",a->rta_type,(int)RTA_PAYLOAD(a));
        if(a->rta_type==INET_DIAG_PROTOCOL)proto=*(unsigned char*)RTA_DATA(a);
        if(a->rta_type==INET_DIAG_INFO){ti=RTA_DATA(a);tilen=RTA_PAYLOAD(a);}
      }
      if(ti&&in){sum_acked+=ti->tcpi_bytes_acked;sum_recv+=ti->tcpi_bytes_received;}
      if(verbose&&in){
        char s[64],d[64]; inet_ntop(m->idiag_family,m->id.idiag_src,s,sizeof s); inet_ntop(m->idiag_family,m->id.idiag_dst,d,sizeof d);
        printf("%.6f fam=%d proto=%d state=%d %s:%d -> %s:%d if=%u cookie=%08x%08x uid=%u inode=%u rq=%u wq=%u timer=%d exp=%u len=%u attrs=[%s]",
          now_rt(),m->idiag_family,proto,m->idiag_state,s,sp,d,dp,m->id.idiag_if,m->id.idiag_cookie[1],m->id.idiag_cookie[0],
          m->idiag_uid,m->idiag_inode,m->idiag_rqueue,m->idiag_wqueue,m->idiag_timer,m->idiag_expires,h->nlmsg_len,attrs);
        if(ti) printf(" ti.len=%d state=%d bytes_acked=%llu bytes_received=%llu bytes_sent=%llu segs_out=%u segs_in=%u data_segs_out=%u rtt=%u last_data_sent=%u last_data_recv=%u last_ack_recv=%u busy_time=%llu",
          tilen,ti->tcpi_state,(unsigned long long)ti->tcpi_bytes_acked,(unsigned long long)ti->tcpi_bytes_received,(unsigned long long)ti->tcpi_bytes_sent,
          ti->tcpi_segs_out,ti->tcpi_segs_in,ti->tcpi_data_segs_out,ti->tcpi_rtt,ti->tcpi_last_data_sent,ti->tcpi_last_data_recv,ti->tcpi_last_ack_recv,(unsigned long long)ti->tcpi_busy_time);
        if(getenv("HEX")&&ti){printf(" HEX=");for(int k=0;k<tilen;k++)printf("%02x",((unsigned char*)ti)[k]);}
        printf("\n");
      }
    }
  }
  struct rusage ru; getrusage(RUSAGE_SELF,&ru);
  printf("SUMMARY msgs=%ld inrange=%ld recvs=%ld enobufs=%ld other=%ld span=%.3fs sum_acked=%llu sum_recv=%llu cpu_user=%.3f cpu_sys=%.3f states:",
    msgs,inrange,recvs,enobufs,other,last_ev-first_ev,sum_acked,sum_recv,ru.ru_utime.tv_sec+ru.ru_utime.tv_usec/1e6,ru.ru_stime.tv_sec+ru.ru_stime.tv_usec/1e6);
  for(int i=0;i<16;i++)if(st_count[i])printf(" %d=%ld",i,st_count[i]);
  printf(" first=%.6f last=%.6f cookie_gap=%llu cookie_nonmono=%llu\n",first_ev,last_ev,cgap,cback);
  return 0;
}
