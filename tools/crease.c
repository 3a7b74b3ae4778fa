#include <stdio.h>
int main(void){fprintf(stderr,"crease: being written\n");return 1;}
